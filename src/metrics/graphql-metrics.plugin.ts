import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { Plugin } from '@nestjs/apollo';
import { FleetMetrics } from './fleet-metrics.service.js';

/** Times every GraphQL request this replica answers over HTTP, labelled by operation type (`unknown` when unparsed). */
@Plugin()
export class GraphqlMetricsPlugin implements ApolloServerPlugin {
  constructor(private readonly metrics: FleetMetrics) {}

  async requestDidStart(): Promise<GraphQLRequestListener<Record<string, never>>> {
    const stop = this.metrics.graphqlDuration.startTimer();
    return {
      willSendResponse: async ({ operation }) => {
        stop({ operation: operation?.operation ?? 'unknown' });
      },
    };
  }
}
