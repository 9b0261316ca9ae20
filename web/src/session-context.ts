import { createContext, useContext } from 'react';
import type { Principal } from './session';

export interface SessionInfo {
  principal: Principal;
  canOperate: boolean;
  isAdmin: boolean;
}

export const SessionContext = createContext<SessionInfo | null>(null);

export function useSession(): SessionInfo {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionContext');
  return s;
}
