-- At most one scheduled (published but not yet signing) key per algorithm.
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys(alg) WHERE state = 'next';
