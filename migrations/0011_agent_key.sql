-- The API key an agent registered with: an `agent` key acts only on the runs its agents hold.
ALTER TABLE agent ADD COLUMN api_key_id BLOB;
