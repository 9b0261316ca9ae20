import { RegisteredModelEntity } from '../registry/entities/registered-model.entity.js';

/** Every entity, for the TypeORM CLI's DataSource (the app registers them per module with forFeature). */
export const entities = [RegisteredModelEntity];
