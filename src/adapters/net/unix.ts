/** The process-wide unix namespace that `listen({ path })` and `connect({ path })` use unless given another. */
import { UnixNamespace } from "../../transport/unix/namespace.ts";

export const defaultUnixNamespace = new UnixNamespace();
