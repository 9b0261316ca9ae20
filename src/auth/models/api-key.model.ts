import { Field, ID, ObjectType } from '@nestjs/graphql';
import { ApiKeyRole } from '../api-key-role.js';

@ObjectType('Principal', { description: 'Who the caller is: the API key behind the request.' })
export class PrincipalModel {
  @Field(() => ID, { nullable: true, description: 'The key’s id; null for the ADMIN_API_KEY of the configuration.' })
  keyId!: string | null;

  @Field(() => String, { description: 'The key’s name.' })
  name!: string;

  @Field(() => ApiKeyRole, { description: 'What the key may do.' })
  role!: ApiKeyRole;
}

@ObjectType('ApiKey', { description: 'An API key. The key itself is shown once, when created; only its hash is kept.' })
export class ApiKey {
  @Field(() => ID, { description: 'The key’s id (what revokeApiKey takes).' })
  id!: string;

  @Field(() => String, { description: 'What the key is for, as given when it was created.' })
  name!: string;

  @Field(() => ApiKeyRole, { description: 'What the key may do.' })
  role!: ApiKeyRole;

  @Field(() => String, { description: 'The key’s first characters, to recognise it (e.g. in a client’s settings).' })
  prefix!: string;

  @Field(() => Date, { description: 'When the key was created.' })
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: 'When the key was last used (to within a minute); null: never.' })
  lastUsedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the key stops working; null: never.' })
  expiresAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the key was revoked; null while it is active.' })
  revokedAt!: Date | null;
}

@ObjectType('CreatedApiKey', { description: 'A new key: the secret (shown this once, never again) and its record.' })
export class CreatedApiKey {
  @Field(() => String, { description: 'The key, to send as "Authorization: Bearer <key>". Store it now.' })
  key!: string;

  @Field(() => ApiKey, { description: 'The key’s record, as apiKeys lists it.' })
  apiKey!: ApiKey;
}
