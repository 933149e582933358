export { Ipv6Endpoint } from "./endpoint.ts";
export { type Ipv6Options, Ipv6Protocol, ipv6 } from "./protocol.ts";
