import { createContext, useContext } from 'react';
import type { Principal } from './session';

export interface Features {
  /** fleet contract: cancelDownload and the CANCELLED state. */
  cancelDownload: boolean;
  /** auth contract: API keys. */
  apiKeys: boolean;
}

export interface SessionInfo {
  principal: Principal;
  canOperate: boolean;
  isAdmin: boolean;
  features: Features;
}

export const SessionContext = createContext<SessionInfo | null>(null);

export function useSession(): SessionInfo {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionContext');
  return s;
}
