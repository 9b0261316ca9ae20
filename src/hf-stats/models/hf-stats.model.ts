import { Field, Int, ObjectType } from '@nestjs/graphql';
import { GraphQLSafeInt } from 'graphql-scalars';
import type { HfStatsValue } from '../hf.types.js';

@ObjectType('HfStats', { description: 'Popularity of a repository on the Hugging Face Hub, cached for ten minutes.' })
export class HfStats {
  @Field(() => GraphQLSafeInt, { description: 'Downloads in the last 30 days, as the Hub counts them.' })
  downloads!: number;

  @Field(() => Int, { description: 'Likes (stars) of the repository.' })
  likes!: number;

  @Field(() => Date, { nullable: true, description: 'When the repository last changed on the Hub.' })
  lastModified!: Date | null;

  @Field({ description: 'True when the Hub could not be reached and this is the last value known.' })
  stale!: boolean;

  @Field(() => Date, { description: 'When these figures were fetched from the Hub.' })
  fetchedAt!: Date;

  static from(value: HfStatsValue): HfStats {
    return Object.assign(new HfStats(), value);
  }
}
