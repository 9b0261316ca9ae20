import type { GraphQLResolveInfo, SelectionSetNode } from 'graphql';

/** Whether the query asks for `field` directly under the current field (fragments included). */
export function selectsField(info: GraphQLResolveInfo, field: string): boolean {
  return info.fieldNodes.some((node) => node.selectionSet !== undefined && inSelection(node.selectionSet, field, info));
}

function inSelection(set: SelectionSetNode, field: string, info: GraphQLResolveInfo): boolean {
  return set.selections.some((selection) => {
    switch (selection.kind) {
      case 'Field':
        return selection.name.value === field;
      case 'InlineFragment':
        return inSelection(selection.selectionSet, field, info);
      case 'FragmentSpread': {
        const fragment = info.fragments[selection.name.value];
        return fragment !== undefined && inSelection(fragment.selectionSet, field, info);
      }
    }
  });
}
