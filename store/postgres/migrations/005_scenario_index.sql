-- The lobby lists one scenario's stories, newest first.

create index simulations_scenario_newest on simulations (scenario_id, created_at, id);

---- create above / drop below ----

drop index simulations_scenario_newest;
