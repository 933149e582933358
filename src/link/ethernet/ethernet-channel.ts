import { ChannelEndpoint, type ChannelOptions } from "../channel/channel.ts";
import { EthernetEndpoint } from "./ethernet.ts";

/**
 * An Ethernet link for stack tests: a `ChannelEndpoint` in "frame" mode
 * (`wire`: read, inject or `connectChannels` it) under an `EthernetEndpoint`
 * (`link`: give it to the stack's NIC), so ARP and NDP run between stacks.
 */
export function newEthernetChannel(opts: Omit<ChannelOptions, "mode"> & { promiscuous?: boolean }): {
  wire: ChannelEndpoint;
  link: EthernetEndpoint;
} {
  const { promiscuous, ...channel } = opts;
  const wire = new ChannelEndpoint({ ...channel, mode: "frame" });
  const link = new EthernetEndpoint(wire, promiscuous === undefined ? {} : { promiscuous });
  return { wire, link };
}
