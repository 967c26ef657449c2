-- What our MTA's Authentication-Results proved of an inbound message's From
-- domain: 'dmarc', 'dkim' or 'spf' (the strongest that passed), NULL when
-- nothing did. A requester's reply is applied either way (requesters rarely
-- sign their mail); agents can see which of their words are proven.
ALTER TABLE messages ADD COLUMN authenticated TEXT;
