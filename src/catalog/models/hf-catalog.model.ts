import { Field, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLSafeInt } from 'graphql-scalars';
import type { HfSort as HubSort } from '../../hf-stats/hf.types.js';

export enum HfSort {
  DOWNLOADS = 'downloads',
  LIKES = 'likes',
  LAST_MODIFIED = 'lastModified',
  CREATED_AT = 'createdAt',
  TRENDING = 'trendingScore',
}
registerEnumType(HfSort, { name: 'HfSort', description: 'Order of Hub search results (descending).' });

export const toHubSort = (sort: HfSort): HubSort => sort;

@ObjectType('HfCatalogEntry', { description: 'A GGUF repository on the Hugging Face Hub.' })
export class HfCatalogEntry {
  @Field(() => ID, { description: 'The repository, org/repo.' })
  repo!: string;

  @Field(() => GraphQLSafeInt, { description: 'Downloads in the last 30 days.' })
  downloads!: number;

  @Field(() => Int)
  likes!: number;

  @Field(() => Date, { nullable: true })
  lastModified!: Date | null;

  @Field(() => [String])
  tags!: string[];

  @Field(() => String, { nullable: true, description: 'The Hub’s task tag, e.g. text-generation.' })
  pipelineTag!: string | null;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Parameter count from the GGUF metadata.' })
  parameters!: number | null;

  @Field(() => String, { nullable: true, description: 'Model architecture from the GGUF metadata, e.g. llama.' })
  architecture!: string | null;

  @Field(() => Int, { nullable: true })
  contextLength!: number | null;

  @Field({ description: 'True when the curated catalog has a model from this repository.' })
  supported!: boolean;

  @Field(() => [ID], { description: 'Catalog ids of the models from this repository.' })
  supportedModelIds!: string[];
}

@ObjectType('HfCatalogPage', { description: 'One page of Hub search results.' })
export class HfCatalogPage {
  @Field(() => [HfCatalogEntry])
  items!: HfCatalogEntry[];

  @Field(() => String, { nullable: true, description: 'Pass as `cursor` for the next page; null on the last page.' })
  nextCursor!: string | null;
}
