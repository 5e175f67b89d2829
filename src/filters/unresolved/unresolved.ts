// A filter gatemesh cannot apply: ExtensionRef (no extension resolves), ExternalAuth
// (experimental, not implemented) or a type it does not know. The spec: "If a reference to a
// custom filter type cannot be resolved, the filter MUST NOT be skipped. Instead, requests that
// would have been processed by that filter MUST receive a HTTP error response" — 500 here, through
// the error catalogue (GATEMESH_ERR_INTERNAL) with the filter named in the reason.
import type { HTTPFilter } from '../../config/model';
import { ERR } from '../../errors';
import { localResponse, type FilterRequest, type FilterResult, type HttpFilter, type LocalResponse } from '../types';

export type UnresolvedSpec = Extract<HTTPFilter, { type: 'Unresolved' }>;

export function createUnresolved(spec: UnresolvedSpec): HttpFilter {
  const reason = `filter ${spec.filterType} is not supported${spec.detail.length !== 0 ? ' (' + spec.detail + ')' : ''}`;
  const response: LocalResponse = { ...localResponse(ERR.INTERNAL.status, [], '', reason), error: ERR.INTERNAL };
  return {
    type: spec.filterType,
    editsRequestHeaders: false,
    onRequest(req: FilterRequest): FilterResult {
      req.local = true;
      return response;
    },
  };
}
