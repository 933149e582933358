export { ChannelEndpoint, type ChannelOptions, type PacketInfo } from "./channel.ts";
export { connectChannels, Pipe, type PipeOptions } from "./pipe.ts";
