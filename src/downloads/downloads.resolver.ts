import { Args, ID, Mutation, Resolver } from '@nestjs/graphql';
import { NodeModelState } from '../nodes/models/node.model.js';
import { toNodeModelState } from '../nodes/models/node.mapper.js';
import { toModelWithStatus } from '../registry/models/model-view.mapper.js';
import { ModelWithStatus } from '../registry/models/model-with-status.model.js';
import { DownloadsService } from './downloads.service.js';

@Resolver()
export class DownloadsResolver {
  constructor(private readonly downloads: DownloadsService) {}

  @Mutation(() => [NodeModelState], {
    description:
      'Downloads a registered model to the given nodes, or to every node. One download per node × model (asking again joins it; a cancelled one resumes); nodes with too little memory are refused (ERROR with the reason) before any byte moves.',
  })
  async downloadModel(
    @Args('modelId', { type: () => ID, description: 'A registered model.' }) modelId: string,
    @Args('nodeIds', { type: () => [ID], nullable: true, description: 'Leave out for every node.' })
    nodeIds?: string[] | null,
  ): Promise<NodeModelState[]> {
    return (await this.downloads.downloadModel(modelId, nodeIds)).map(toNodeModelState);
  }

  @Mutation(() => [NodeModelState], {
    description:
      'Stops the model’s downloads (CANCELLED, not an error). The nodes keep the partial files: a later downloadModel resumes where it stopped. Nodes that were not downloading it are returned unchanged.',
  })
  async cancelDownload(
    @Args('modelId', { type: () => ID, description: 'A registered model.' }) modelId: string,
    @Args('nodeIds', { type: () => [ID], nullable: true, description: 'Leave out for every node.' })
    nodeIds?: string[] | null,
  ): Promise<NodeModelState[]> {
    return (await this.downloads.cancelDownload(modelId, nodeIds)).map(toNodeModelState);
  }

  @Mutation(() => ModelWithStatus, { description: 'Removes the model’s files from every node, then unregisters it.' })
  async deleteModel(@Args('modelId', { type: () => ID }) modelId: string): Promise<ModelWithStatus> {
    return toModelWithStatus(await this.downloads.deleteModel(modelId));
  }
}
