// Domain types: aliases of the schemas generated from Gantry's OpenAPI
// document (`npm run sync:api`), under the names the Domains pages use.
import type { Schemas } from "./client";

export type Ref = Schemas["Ref"];
export type DomainGroup = Schemas["DomainGroup"];
export type DomainGroupRequest = Schemas["GroupRequest"];
export type GroupDeleted = Schemas["GroupDeleted"];
export type Scheme = Schemas["Scheme"];
export type ResponseHeader = Schemas["Header"];
export type DomainOptions = Schemas["DomainOptions"];
export type OptionsInput = Schemas["OptionsInput"];
export type Route = Schemas["Route"];
export type RouteInput = Schemas["RouteInput"];
export type Domain = Schemas["Domain"];
export type DomainRequest = Schemas["DomainInput"];
/** The API takes the action as a string; these are the ones it knows. */
export type BulkAction = "enable" | "disable" | "move" | "delete";
export type BulkRequest = Schemas["BulkRequest"];
export type BulkResult = Schemas["BulkResult"];
export type ImportFormat = Schemas["Format"];
export type ImportAction = Schemas["Action"];
export type ImportLine = Schemas["Line"];
export type ImportReport = Schemas["Report"];
