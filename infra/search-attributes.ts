/**
 * Registers funnelcast's custom search attributes on a namespace when they are missing: on this home's embedded
 * server they come with `start-dev --search-attribute`, but a server started before they existed, an external
 * cluster or a test server would otherwise fail every workflow task that sets them.
 */
import { temporal } from '@temporalio/proto';
import { FUNNELCAST_SEARCH_ATTRIBUTES } from './search-attribute-keys';

type OperatorService = temporal.api.operatorservice.v1.OperatorService;
const IndexedValueType = temporal.api.enums.v1.IndexedValueType;

const INDEXED: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  DATETIME: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
};

export async function ensureSearchAttributes(operator: OperatorService, namespace: string): Promise<string[]> {
  const have = await operator.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(have.customAttributes ?? {}));
  const missing = FUNNELCAST_SEARCH_ATTRIBUTES.filter((k) => !known.has(k.name));
  if (!missing.length) return [];
  try {
    await operator.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED[k.type]])),
    });
  } catch (e) {
    // Two workers starting together: the other one registered them first.
    if (!/already exists/i.test(String((e as Error).message))) throw e;
  }
  return missing.map((k) => k.name);
}
