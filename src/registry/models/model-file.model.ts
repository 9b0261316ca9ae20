import { Field, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLSafeInt } from 'graphql-scalars';
import type { ManifestFile } from '../manifest.js';

export enum ModelFileRole {
  MODEL = 'MODEL',
  PROJECTOR = 'PROJECTOR',
}
registerEnumType(ModelFileRole, {
  name: 'ModelFileRole',
  description: 'MODEL for weights (every part of a split GGUF), PROJECTOR for a vision model’s mmproj file.',
});

@ObjectType('ModelFile', { description: 'One file of a registered model, pinned to a commit.' })
export class ModelFile {
  @Field({ description: 'Path inside the repository.' })
  path!: string;

  @Field(() => GraphQLSafeInt, { description: 'Size in bytes.' })
  size!: number;

  @Field({ description: 'SHA-256 of the content, from the Hub’s LFS metadata.' })
  sha256!: string;

  @Field(() => ModelFileRole)
  role!: ModelFileRole;

  static from(file: ManifestFile): ModelFile {
    return Object.assign(new ModelFile(), { ...file, role: ModelFileRole[file.role] });
  }
}
