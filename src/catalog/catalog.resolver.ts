import { Query, Resolver } from '@nestjs/graphql';

import { CatalogService } from './catalog.service.js';
import { SupportedModel } from './models/supported-model.model.js';

@Resolver(() => SupportedModel)
export class CatalogResolver {
  constructor(private readonly catalog: CatalogService) {}

  @Query(() => [SupportedModel], {
    description: 'Every model of the curated catalog (supported_models.json), in file order, registered or not.',
  })
  supportedModels(): SupportedModel[] {
    return this.catalog.list().map((def) => SupportedModel.from(def));
  }
}
