import { graphql } from '../gql';

export const NodeStateFields = graphql(`
  fragment NodeStateFields on NodeModelState {
    id
    nodeId
    modelId
    lifecycleStatus
    progress
    bytesDone
    bytesTotal
    bytesPerSecond
    etaSeconds
    errorCode
    errorMessage
    loadError
    source
    sourceNodeId
    sourceNodeName
    peerCopyRefusedReason
    updatedAt
  }
`);

export const ModelCardFields = graphql(`
  fragment ModelCardFields on ModelWithStatus {
    id
    status
    source
    errorMessage
    downloadProgress
    availableNodes
    model {
      id
      name
      description
      repo
      parameterCount
      quantization
      sizeBytes
      requiredMemoryBytes
      capabilities
      tags
    }
    hfStats {
      downloads
      likes
      stale
      fetchedAt
    }
    nodes {
      ...NodeStateFields
    }
  }
`);

export const ModelsQuery = graphql(`
  query Models($status: ModelStatus, $search: String) {
    models(status: $status, search: $search) {
      ...ModelCardFields
    }
  }
`);

export const ModelQuery = graphql(`
  query Model($id: ID!) {
    model(id: $id) {
      ...ModelCardFields
    }
  }
`);

export const NodeNamesQuery = graphql(`
  query NodeNames {
    nodes {
      id
      name
      status
    }
  }
`);

/** The matrix's axes (a few hundred small entities, kept live by Apollo's cache). */
export const FleetLayoutQuery = graphql(`
  query FleetLayout {
    nodes {
      id
      name
      status
    }
    models {
      id
      status
      model {
        id
        name
        sizeBytes
      }
    }
  }
`);

/** Every node × model state, fetched with no-cache into the matrix's own store (web/src/fleet-store.ts). */
export const FleetStatesQuery = graphql(`
  query FleetStates {
    models {
      id
      nodes {
        ...NodeStateFields
      }
    }
  }
`);

/** What peer copy saved the fleet: refetched when a download ends (live.ts), shown above the matrix. */
export const PeerCopyStatsQuery = graphql(`
  query PeerCopyStats {
    peerCopyStats {
      bytesFromHub
      bytesFromPeers
      bytesSavedFromHub
      peerTransfers
      reportedPeers
    }
  }
`);

export const NodeFields = graphql(`
  fragment NodeFields on Node {
    id
    name
    status
    platform
    url
    cpuCount
    memoryBytes
    lastHeartbeatAt
    registeredAt
    gpus {
      name
      vramTotalBytes
    }
    metrics {
      ...MetricsFields
    }
  }
`);

export const MetricsFields = graphql(`
  fragment MetricsFields on NodeMetrics {
    nodeId
    cpuUsage
    gpuUsage
    memoryUsage
    ramTotalBytes
    ramUsedBytes
    vramTotalBytes
    vramUsedBytes
    requestCount
    timestamp
  }
`);

export const NodesQuery = graphql(`
  query Nodes {
    nodes {
      ...NodeFields
    }
  }
`);

export const RepairFields = graphql(`
  fragment RepairFields on RepairTask {
    id
    nodeId
    modelId
    status
    reason
    trigger
    detail
    attempts
    elapsedMs
    errorMessage
    startedAt
    finishedAt
  }
`);

export const RepairsQuery = graphql(`
  query Repairs($limit: Int) {
    repairs(limit: $limit) {
      ...RepairFields
    }
  }
`);

export const HfCatalogQuery = graphql(`
  query HfCatalog($search: String, $sort: HfSort, $cursor: String, $limit: Int) {
    hfCatalog(search: $search, sort: $sort, cursor: $cursor, limit: $limit) {
      nextCursor
      items {
        repo
        downloads
        likes
        lastModified
        parameters
        architecture
        pipelineTag
        supported
        supportedModelIds
        registered
        registeredModelIds
      }
    }
  }
`);

export const RegisterModel = graphql(`
  mutation RegisterModel($modelId: ID!) {
    registerModel(modelId: $modelId) {
      ...ModelCardFields
    }
  }
`);

export const RegisterHfModel = graphql(`
  mutation RegisterHfModel($url: String!) {
    registerHfModel(url: $url) {
      ...ModelCardFields
    }
  }
`);

export const UnregisterModel = graphql(`
  mutation UnregisterModel($modelId: ID!) {
    unregisterModel(modelId: $modelId) {
      ...ModelCardFields
    }
  }
`);

export const DeleteModel = graphql(`
  mutation DeleteModel($modelId: ID!) {
    deleteModel(modelId: $modelId) {
      ...ModelCardFields
    }
  }
`);

export const DownloadModel = graphql(`
  mutation DownloadModel($modelId: ID!, $nodeIds: [ID!]) {
    downloadModel(modelId: $modelId, nodeIds: $nodeIds) {
      ...NodeStateFields
    }
  }
`);

export const VerifyModel = graphql(`
  mutation VerifyModel($modelId: ID!, $nodeId: ID!) {
    verifyModel(modelId: $modelId, nodeId: $nodeId) {
      ...NodeStateFields
    }
  }
`);

export const RepairModel = graphql(`
  mutation RepairModel($modelId: ID!, $nodeId: ID!) {
    repairModel(modelId: $modelId, nodeId: $nodeId) {
      ...RepairFields
    }
  }
`);

/** The changed state and the model's aggregates ride with each event: applying one costs O(1), no refetch. */
export const ModelEvents = graphql(`
  subscription ModelEvents {
    modelStatusChanged {
      seq
      modelId
      nodeId
      status
      progress
      lifecycleStatus
      errorMessage
      model {
        id
        status
        errorMessage
        downloadProgress
        availableNodes
      }
      state {
        ...NodeStateFields
      }
      states {
        ...NodeStateFields
      }
    }
  }
`);

export const NodeEvents = graphql(`
  subscription NodeEvents {
    nodeStatusChanged {
      seq
      nodeId
      name
      status
      models {
        ...NodeStateFields
      }
    }
  }
`);

export const MetricsEvents = graphql(`
  subscription MetricsEvents {
    metricsUpdated {
      ...MetricsFields
    }
  }
`);

export const RepairEvents = graphql(`
  subscription RepairEvents {
    repairStatusChanged {
      ...RepairFields
    }
  }
`);

export const ActiveRepairsQuery = graphql(`
  query ActiveRepairs {
    repairs(status: IN_PROGRESS, limit: 1000) {
      id
      nodeId
      modelId
      status
    }
  }
`);

export const CancelDownload = graphql(`
  mutation CancelDownload($modelId: ID!, $nodeIds: [ID!]) {
    cancelDownload(modelId: $modelId, nodeIds: $nodeIds) {
      ...NodeStateFields
    }
  }
`);

export const ApiKeyFields = graphql(`
  fragment ApiKeyFields on ApiKey {
    id
    name
    role
    prefix
    createdAt
    lastUsedAt
    expiresAt
    revokedAt
  }
`);

export const ApiKeysQuery = graphql(`
  query ApiKeys {
    apiKeys {
      ...ApiKeyFields
    }
  }
`);

export const CreateApiKey = graphql(`
  mutation CreateApiKey($name: String!, $role: ApiKeyRole!, $expiresAt: DateTime) {
    createApiKey(name: $name, role: $role, expiresAt: $expiresAt) {
      key
      apiKey {
        ...ApiKeyFields
      }
    }
  }
`);

export const RevokeApiKey = graphql(`
  mutation RevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) {
      ...ApiKeyFields
    }
  }
`);
