import { Args, Query, Resolver } from '@nestjs/graphql';
import { HfHubClient } from '../hf-stats/hf-hub.client.js';
import { CatalogError, CatalogErrorReason } from './catalog.errors.js';
import { CatalogService } from './catalog.service.js';
import { HfCatalogArgs } from './dto/hf-catalog.args.js';
import { HfCatalogEntry, HfCatalogPage, HfSort, toHubSort } from './models/hf-catalog.model.js';

@Resolver(() => HfCatalogEntry)
export class HfCatalogResolver {
  constructor(
    private readonly hub: HfHubClient,
    private readonly catalog: CatalogService,
  ) {}

  @Query(() => HfCatalogPage, { description: 'GGUF repositories on the Hub, marking those the catalog supports.' })
  async hfCatalog(@Args() args: HfCatalogArgs): Promise<HfCatalogPage> {
    const limit = args.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw new CatalogError(CatalogErrorReason.INVALID_ARGUMENT, `limit must be between 1 and 100 (got ${limit})`, {
        field: 'limit',
        value: limit,
      });
    }
    const page = await this.hub.searchGguf({
      search: args.search ?? undefined,
      sort: toHubSort(args.sort ?? HfSort.DOWNLOADS),
      limit,
      cursor: args.cursor ?? null,
    });
    return Object.assign(new HfCatalogPage(), {
      nextCursor: page.nextCursor,
      items: page.items.map((item) => {
        const supportedModelIds = this.catalog.findByRepo(item.id).map((m) => m.id);
        return Object.assign(new HfCatalogEntry(), {
          repo: item.id,
          downloads: item.downloads,
          likes: item.likes,
          lastModified: item.lastModified,
          tags: item.tags,
          pipelineTag: item.pipelineTag,
          parameters: item.gguf?.total ?? null,
          architecture: item.gguf?.architecture ?? null,
          contextLength: item.gguf?.contextLength ?? null,
          supported: supportedModelIds.length > 0,
          supportedModelIds,
        });
      }),
    });
  }
}
