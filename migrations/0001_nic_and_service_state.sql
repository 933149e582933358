ALTER TABLE `nics` ADD `enabled` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `nics` ADD `offload` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `nics` ADD `host_addresses` text;--> statement-breakpoint
ALTER TABLE `services` ADD `enabled` integer DEFAULT true NOT NULL;