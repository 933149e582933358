export { ETHERNET_HEADER_LENGTH, EthernetEndpoint, type EthernetOptions } from "./ethernet.ts";
export { newEthernetChannel } from "./ethernet-channel.ts";
