export { WaitableEndpoint } from "./waitable.ts";
