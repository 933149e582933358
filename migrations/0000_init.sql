CREATE TABLE `addresses` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`nic` text NOT NULL,
	`address` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `addresses_nic_address` ON `addresses` (`nic`,`address`);--> statement-breakpoint
CREATE TABLE `conntrack_flows` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`snapshot_id` integer NOT NULL,
	`protocol` text NOT NULL,
	`orig_src` text NOT NULL,
	`orig_src_port` integer NOT NULL,
	`orig_dst` text NOT NULL,
	`orig_dst_port` integer NOT NULL,
	`state` text NOT NULL,
	`orig_packets` integer NOT NULL,
	`orig_bytes` integer NOT NULL,
	`reply_packets` integer NOT NULL,
	`reply_bytes` integer NOT NULL,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL,
	FOREIGN KEY (`snapshot_id`) REFERENCES `conntrack_snapshots`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `conntrack_flows_snapshot` ON `conntrack_flows` (`snapshot_id`);--> statement-breakpoint
CREATE TABLE `conntrack_snapshots` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` integer NOT NULL,
	`reason` text NOT NULL,
	`flow_count` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `nics` (
	`name` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`mtu` integer,
	`mac` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `routes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`destination` text NOT NULL,
	`gateway` text,
	`nic` text NOT NULL,
	`metric` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `services` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`protocol` text NOT NULL,
	`port` integer NOT NULL,
	`keepalive` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `services_protocol_port` ON `services` (`protocol`,`port`);--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `stats_samples` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` integer NOT NULL,
	`scope` text NOT NULL,
	`name` text NOT NULL,
	`value` real NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stats_samples_ts` ON `stats_samples` (`ts`);--> statement-breakpoint
CREATE INDEX `stats_samples_name_ts` ON `stats_samples` (`scope`,`name`,`ts`);