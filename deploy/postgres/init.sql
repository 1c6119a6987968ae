-- One database per service (each service owns its data).
CREATE DATABASE jpass_search;
CREATE DATABASE jpass_selection;
CREATE DATABASE jpass_returns;
CREATE DATABASE jpass_approvals;
CREATE DATABASE jpass_mailer;
