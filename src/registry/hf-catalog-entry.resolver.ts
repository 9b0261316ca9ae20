import { Context, Parent, ResolveField, Resolver } from '@nestjs/graphql';
import { ID } from '@nestjs/graphql';
import { HfCatalogEntry } from '../catalog/models/hf-catalog.model.js';
import { requestLoader } from '../common/request-loader.js';
import { RegistryService } from './registry.service.js';

/** The registry's part of a Hub search result: which registered models come from that repository. */
@Resolver(() => HfCatalogEntry)
export class HfCatalogEntryResolver {
  constructor(private readonly registry: RegistryService) {}

  @ResolveField(() => [ID], { description: 'Ids of the registered models from this repository.' })
  async registeredModelIds(@Parent() entry: HfCatalogEntry, @Context() context: object): Promise<string[]> {
    return requestLoader<string, string[]>(context, 'registeredIdsByRepo', (repos) =>
      this.registry.registeredIdsByRepo(repos),
    ).load(entry.repo);
  }

  @ResolveField(() => Boolean, { description: 'True when a model from this repository is registered.' })
  async registered(@Parent() entry: HfCatalogEntry, @Context() context: object): Promise<boolean> {
    return (await this.registeredModelIds(entry, context)).length > 0;
  }
}
