CREATE TABLE "approvals" (
	"plan_id" text NOT NULL,
	"seq" integer NOT NULL,
	"kind" text NOT NULL,
	"by" text NOT NULL,
	"via" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"gpu_hours" double precision,
	"note" text,
	CONSTRAINT "approvals_plan_id_seq_pk" PRIMARY KEY("plan_id","seq")
);
--> statement-breakpoint
CREATE TABLE "attempts" (
	"plan_id" text NOT NULL,
	"run_id" text NOT NULL,
	"n" integer NOT NULL,
	"status" text NOT NULL,
	"overrides" jsonb NOT NULL,
	"dispatched_at" timestamp with time zone NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"external_id" text,
	"gpu_hours" double precision,
	"duration_sec" double precision,
	"conclusion" text,
	"reason" text,
	"runbook_id" text,
	"runbook_action" text,
	CONSTRAINT "attempts_plan_id_run_id_n_pk" PRIMARY KEY("plan_id","run_id","n")
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"plan_id" text NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "hypotheses" (
	"plan_id" text NOT NULL,
	"id" text NOT NULL,
	"title" text NOT NULL,
	"rationale" text NOT NULL,
	"source" text NOT NULL,
	"agent" text NOT NULL,
	"kind" text NOT NULL,
	"overrides" jsonb NOT NULL,
	"expected_effect" double precision NOT NULL,
	"risk" text NOT NULL,
	CONSTRAINT "hypotheses_plan_id_id_pk" PRIMARY KEY("plan_id","id")
);
--> statement-breakpoint
CREATE TABLE "insights" (
	"model" text NOT NULL,
	"change_key" text NOT NULL,
	"fidelity" double precision NOT NULL,
	"tags" text[] NOT NULL,
	"overrides" jsonb NOT NULL,
	"title" text NOT NULL,
	"mean_effect" double precision NOT NULL,
	"lo" double precision NOT NULL,
	"hi" double precision NOT NULL,
	"n_runs" integer NOT NULL,
	"n_plans" integer NOT NULL,
	"status" text NOT NULL,
	"reason" text NOT NULL,
	"plan_ids" jsonb NOT NULL,
	"run_ids" jsonb NOT NULL,
	"sum" double precision NOT NULL,
	"sum_sq" double precision NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "insights_model_change_key_fidelity_pk" PRIMARY KEY("model","change_key","fidelity")
);
--> statement-breakpoint
CREATE TABLE "metrics" (
	"plan_id" text NOT NULL,
	"run_id" text NOT NULL,
	"name" text NOT NULL,
	"value" double precision NOT NULL,
	CONSTRAINT "metrics_plan_id_run_id_name_pk" PRIMARY KEY("plan_id","run_id","name")
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"plan_id" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"effect" jsonb NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"leased_until" timestamp with time zone,
	"last_error" text,
	"created_at" timestamp with time zone NOT NULL,
	"done_at" timestamp with time zone,
	CONSTRAINT "outbox_idempotency_key_unique" UNIQUE("idempotency_key")
);
--> statement-breakpoint
CREATE TABLE "plans" (
	"id" text PRIMARY KEY NOT NULL,
	"model" text NOT NULL,
	"goal" text NOT NULL,
	"status" text NOT NULL,
	"phase" text NOT NULL,
	"state" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"version" integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"plan_id" text NOT NULL,
	"id" text NOT NULL,
	"phase" text NOT NULL,
	"step" text NOT NULL,
	"candidate_id" text NOT NULL,
	"role" text NOT NULL,
	"overrides" jsonb NOT NULL,
	"fidelity" double precision NOT NULL,
	"seed" bigint NOT NULL,
	"status" text NOT NULL,
	"outcome" text,
	"metrics" jsonb,
	CONSTRAINT "runs_plan_id_id_pk" PRIMARY KEY("plan_id","id")
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"delivery_id" text PRIMARY KEY NOT NULL,
	"source" text NOT NULL,
	"received_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_plan_id_plans_id_fk" FOREIGN KEY ("plan_id") REFERENCES "public"."plans"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "attempts" ADD CONSTRAINT "attempts_plan_id_run_id_runs_plan_id_id_fk" FOREIGN KEY ("plan_id","run_id") REFERENCES "public"."runs"("plan_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "hypotheses" ADD CONSTRAINT "hypotheses_plan_id_plans_id_fk" FOREIGN KEY ("plan_id") REFERENCES "public"."plans"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "metrics" ADD CONSTRAINT "metrics_plan_id_run_id_runs_plan_id_id_fk" FOREIGN KEY ("plan_id","run_id") REFERENCES "public"."runs"("plan_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "runs" ADD CONSTRAINT "runs_plan_id_plans_id_fk" FOREIGN KEY ("plan_id") REFERENCES "public"."plans"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "events_plan_idx" ON "events" USING btree ("plan_id","id");--> statement-breakpoint
CREATE INDEX "insights_tags_idx" ON "insights" USING gin ("tags");--> statement-breakpoint
CREATE INDEX "outbox_status_due_idx" ON "outbox" USING btree ("status","due_at");--> statement-breakpoint
CREATE INDEX "plans_model_created_idx" ON "plans" USING btree ("model","created_at");--> statement-breakpoint
CREATE INDEX "plans_created_idx" ON "plans" USING btree ("created_at");