import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';

/** Whether the query asks for `field` directly under the current field (fragments included). */
export function selectsField(info: GraphQLResolveInfo, field: string): boolean {
  return info.fieldNodes.some((node) => node.selectionSet !== undefined && inSelection(node.selectionSet, field, info));
}

function inSelection(set: SelectionSetNode, field: string, info: GraphQLResolveInfo): boolean {
  return set.selections.some((selection) => {
    switch (selection.kind) {
      case Kind.FIELD:
        return selection.name.value === field;
      case Kind.INLINE_FRAGMENT:
        return inSelection(selection.selectionSet, field, info);
      case Kind.FRAGMENT_SPREAD: {
        const fragment = info.fragments[selection.name.value];
        return fragment !== undefined && inSelection(fragment.selectionSet, field, info);
      }
    }
  });
}
