import { ArgsType, Field, Int } from '@nestjs/graphql';
import { HfSort } from '../models/hf-catalog.model.js';

@ArgsType()
export class HfCatalogArgs {
  @Field(() => String, { nullable: true, description: 'Text to search for in repository names.' })
  search?: string | null;

  @Field(() => HfSort, { nullable: true, defaultValue: HfSort.DOWNLOADS })
  sort?: HfSort | null;

  @Field(() => Int, { nullable: true, defaultValue: 20, description: 'Page size, 1 to 100.' })
  limit?: number | null;

  @Field(() => String, { nullable: true, description: 'nextCursor of the previous page.' })
  cursor?: string | null;
}
