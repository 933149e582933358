export { bdpBytes, MATHIS_C, mathisBitsPerSecond, mathisBytesPerSecond, mathisLossFor } from "./mathis.ts";
export { NetSim, NetSimEndpoint, type NetSimOptions, type PathOptions, type PathStats } from "./netsim.ts";
