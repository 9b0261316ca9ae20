import { Field, Float, ID, Int, ObjectType } from '@nestjs/graphql';
import { SupportedModel } from '../../catalog/models/supported-model.model.js';
import { HfStats } from '../../hf-stats/models/hf-stats.model.js';
import type { NodeModelState } from '../../nodes/models/node.model.js';
import { ModelFile } from './model-file.model.js';
import { ModelSource, ModelStatus } from './model-status.enums.js';

@ObjectType('ModelWithStatus', { description: 'A model and where it stands across the fleet.' })
export class ModelWithStatus {
  @Field(() => ID, { description: 'Catalog id, or hf/{org}/{repo}[/{filename}] for Hugging Face registrations.' })
  id!: string;

  @Field(() => SupportedModel, { description: 'What the model is (the catalog entry, or derived from the Hub).' })
  model!: SupportedModel;

  @Field(() => ModelSource)
  source!: ModelSource;

  @Field(() => ModelStatus)
  status!: ModelStatus;

  @Field(() => String, { nullable: true, description: 'Why the model is in ERROR.' })
  errorMessage!: string | null;

  @Field(() => Float, { nullable: true, description: 'Bytes done / bytes total over the nodes downloading it (0..1).' })
  downloadProgress!: number | null;

  @Field(() => Int, { description: 'Number of nodes where the model is READY.' })
  availableNodes!: number;

  @Field(() => String, {
    nullable: true,
    description: 'The commit the registration is pinned to; null when not registered.',
  })
  revision!: string | null;

  @Field(() => [ModelFile], { description: 'The files nodes download (empty when not registered).' })
  files!: ModelFile[];

  @Field(() => String, { nullable: true, description: 'Which file(s) registration chose, and why.' })
  selectionNote!: string | null;

  @Field(() => Date, { nullable: true, description: 'When the model was registered.' })
  registeredAt!: Date | null;

  @Field(() => HfStats, {
    nullable: true,
    description: 'Hub popularity (cached 10 min); stale when the Hub is unreachable, null when not fetched yet.',
  })
  hfStats!: HfStats | null;

  /** Node states a list query already read for the whole page (not a GraphQL field: ModelWithStatus.nodes answers them). */
  preloadedNodes?: readonly NodeModelState[];

  /**
   * The fleet version read with this model's status (ModelView.version; not a GraphQL field): lets a list read take
   * the model's node states from ModelStatesCache while they have not changed. 0 where not read from the database.
   */
  fleetVersion?: number;
}
