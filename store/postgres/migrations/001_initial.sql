-- Simulations, their turns, seats, pending actions and saved scenarios.
--
-- Bodies, scenarios and world states are opaque bytes (bytea), never jsonb:
-- clients get back exactly the bytes that were stored.

create table simulations (
	id               text primary key,
	title            text not null,
	scenario_id      text not null,
	scenario         bytea,
	status           text not null,
	seed             bigint not null,
	head             bigint not null default 0,
	max_turns        integer not null,
	turn_interval_ms integer not null,
	wait_for_players boolean not null,
	created_by       text not null,
	created_at       timestamptz not null,
	updated_at       timestamptz not null,
	owner            text not null default '',
	-- The world state after the head turn, written with it.
	state            bytea
) with (fillfactor = 70); -- room for HOT updates: every stored turn rewrites the row

create index simulations_newest on simulations (created_at, id);
create index simulations_status_newest on simulations (status, created_at, id);

create table turns (
	sim_id text not null references simulations (id) on delete cascade,
	seq    bigint not null,
	at     timestamptz not null,
	body   bytea not null,
	primary key (sim_id, seq)
);

create table seats (
	sim_id    text not null references simulations (id) on delete cascade,
	character text not null,
	user_id   text not null,
	user_name text not null,
	primary key (sim_id, character)
);

create table pending_actions (
	sim_id    text not null references simulations (id) on delete cascade,
	character text not null,
	user_id   text not null,
	action    bytea not null, -- engine.Action as JSON
	turn      bigint not null,
	at        timestamptz not null,
	primary key (sim_id, character)
);

create table scenarios (
	id         text primary key,
	data       bytea not null,
	created_at timestamptz not null default now()
);

---- create above / drop below ----

drop table scenarios;
drop table pending_actions;
drop table seats;
drop table turns;
drop table simulations;
