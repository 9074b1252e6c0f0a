CREATE TABLE `containers` (
	`namespace` text NOT NULL,
	`id` text NOT NULL,
	`labels` text DEFAULT '{}' NOT NULL,
	`image` text DEFAULT '' NOT NULL,
	`runtime_name` text NOT NULL,
	`runtime_options` blob,
	`spec` blob NOT NULL,
	`snapshotter` text DEFAULT '' NOT NULL,
	`snapshot_key` text DEFAULT '' NOT NULL,
	`extensions` text DEFAULT '{}' NOT NULL,
	`sandbox` text DEFAULT '' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `id`),
	FOREIGN KEY (`namespace`) REFERENCES `namespaces`(`name`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE TABLE `content` (
	`namespace` text NOT NULL,
	`digest` text NOT NULL,
	`size` integer NOT NULL,
	`labels` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `digest`),
	FOREIGN KEY (`namespace`) REFERENCES `namespaces`(`name`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `content_digest` ON `content` (`digest`);--> statement-breakpoint
CREATE TABLE `images` (
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`target_digest` text NOT NULL,
	`target_media_type` text NOT NULL,
	`target_size` integer NOT NULL,
	`labels` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `name`),
	FOREIGN KEY (`namespace`) REFERENCES `namespaces`(`name`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `images_target_digest` ON `images` (`target_digest`);--> statement-breakpoint
CREATE TABLE `ingests` (
	`namespace` text NOT NULL,
	`ref` text NOT NULL,
	`backend_ref` text NOT NULL,
	`expires_at` integer,
	`expected` text,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `ref`),
	FOREIGN KEY (`namespace`) REFERENCES `namespaces`(`name`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `lease_resources` (
	`namespace` text NOT NULL,
	`lease` text NOT NULL,
	`type` text NOT NULL,
	`id` text NOT NULL,
	PRIMARY KEY(`namespace`, `lease`, `type`, `id`),
	FOREIGN KEY (`namespace`,`lease`) REFERENCES `leases`(`namespace`,`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `lease_resources_resource` ON `lease_resources` (`namespace`,`type`,`id`);--> statement-breakpoint
CREATE TABLE `leases` (
	`namespace` text NOT NULL,
	`id` text NOT NULL,
	`labels` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `id`),
	FOREIGN KEY (`namespace`) REFERENCES `namespaces`(`name`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `namespaces` (
	`name` text PRIMARY KEY NOT NULL,
	`labels` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `snapshots` (
	`namespace` text NOT NULL,
	`snapshotter` text NOT NULL,
	`key` text NOT NULL,
	`backend_name` text NOT NULL,
	`parent` text,
	`kind` text NOT NULL,
	`labels` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `snapshotter`, `key`),
	FOREIGN KEY (`namespace`) REFERENCES `namespaces`(`name`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`namespace`,`snapshotter`,`parent`) REFERENCES `snapshots`(`namespace`,`snapshotter`,`key`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `snapshots_parent` ON `snapshots` (`namespace`,`snapshotter`,`parent`);--> statement-breakpoint
CREATE INDEX `snapshots_backend_name` ON `snapshots` (`snapshotter`,`backend_name`);