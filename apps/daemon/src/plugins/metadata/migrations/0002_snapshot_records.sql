CREATE TABLE `snapshot_sequences` (
	`namespace` text NOT NULL,
	`snapshotter` text NOT NULL,
	`sequence` integer NOT NULL,
	PRIMARY KEY(`namespace`, `snapshotter`),
	FOREIGN KEY (`namespace`) REFERENCES `namespaces`(`name`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `snapshots` ADD `pending` text;