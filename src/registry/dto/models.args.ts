import { ArgsType, Field, ID } from '@nestjs/graphql';
import { PageArgs } from '../../common/pagination.js';
import { ModelStatus } from '../models/model-status.enums.js';

@ArgsType()
export class ModelsArgs extends PageArgs {
  @Field(() => ModelStatus, { nullable: true, description: 'Only models in this status.' })
  status?: ModelStatus | null;

  @Field(() => String, {
    nullable: true,
    description:
      'Case-insensitive text matched against id, name, repo, description, quantization, parameters and tags.',
  })
  search?: string | null;
}

@ArgsType()
export class ModelIdArgs {
  @Field(() => ID, { description: 'A catalog id, or hf/{org}/{repo}[/{filename}].' })
  modelId!: string;
}

@ArgsType()
export class ModelStatusChangedArgs {
  @Field(() => ID, { nullable: true, description: 'Only events about this model.' })
  modelId?: string | null;
}
