import { registerEnumType } from '@nestjs/graphql';
import { LifecycleStatus } from '../../nodes/lifecycle-status.js';
import { ModelSource, ModelStatus } from '../model-status.js';

registerEnumType(ModelStatus, {
  name: 'ModelStatus',
  description: 'Where a model stands across the fleet.',
  valuesMap: {
    AVAILABLE: { description: 'In the catalog, not registered.' },
    REGISTERED: { description: 'Registered; on no node yet.' },
    DOWNLOADING: { description: 'Some node is downloading or loading it.' },
    READY: { description: 'Ready on at least one node.' },
    ERROR: { description: 'Every node attempt failed.' },
  },
});

registerEnumType(ModelSource, {
  name: 'ModelSource',
  description: 'Where a model was registered from.',
});

registerEnumType(LifecycleStatus, {
  name: 'LifecycleStatus',
  description: "A model's state on one node.",
});

export { LifecycleStatus, ModelSource, ModelStatus };
