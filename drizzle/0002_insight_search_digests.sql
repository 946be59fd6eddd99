CREATE TABLE "digests_sent" (
	"channel" text NOT NULL,
	"week" text NOT NULL,
	"sent_at" timestamp with time zone NOT NULL,
	"sent_by" text NOT NULL,
	"message_ts" text,
	CONSTRAINT "digests_sent_channel_week_pk" PRIMARY KEY("channel","week")
);
--> statement-breakpoint
ALTER TABLE "insights" ADD COLUMN "baseline_key" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "insights" ADD COLUMN "rationale" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "insights" ADD COLUMN "links" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "insights" DROP CONSTRAINT "insights_model_change_key_fidelity_pk";--> statement-breakpoint
ALTER TABLE "insights" ADD CONSTRAINT "insights_model_baseline_key_change_key_fidelity_pk" PRIMARY KEY("model","baseline_key","change_key","fidelity");--> statement-breakpoint
CREATE INDEX "insights_search_idx" ON "insights" USING gin (to_tsvector('english', "title" || ' ' || "rationale" || ' ' || "change_key"));
