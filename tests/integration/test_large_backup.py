"""A backup larger than Swift's largest object goes up as a Static Large
Object and restores byte-identically (its SHA-256 is checked during restore)."""
from __future__ import annotations

import json

from tests.integration.cycle import archiving_primary, flush_archive, restore_and_recover, take_backup
from tests.integration.swiftwal_cli import make_store
from tests.support.pg_cluster import make_reachable

SEGMENT = 1024 * 1024


def swift_names(swift, container: str, prefix: str) -> list[str]:
    from swiftclient.client import Connection

    connection = Connection(authurl=swift.auth_url, user=swift.user, key=swift.key)
    _headers, listing = connection.get_container(container, prefix=prefix, full_listing=True)
    return [entry["name"] for entry in listing]


def test_backup_above_the_large_object_size_is_segmented_and_restores(swift, pg_factory, tmp_path,
                                                                       swiftwal_bin):
    store = make_store("swift", str(make_reachable(tmp_path / "store")), swiftwal_bin, swift,
                       extra={"LARGE_OBJECT_SIZE": str(SEGMENT)})
    primary = archiving_primary(pg_factory, store)
    # Incompressible rows, so the compressed tar is several segments long.
    primary.sql("CREATE TABLE blob AS SELECT i, decode(string_agg(md5(random()::text), ''), 'hex') AS b "
                "FROM generate_series(1, 400) i, generate_series(1, 200) j GROUP BY i")
    expected = primary.sql("SELECT md5(string_agg(b, '' ORDER BY i)) FROM blob")
    key = take_backup(store, primary, "--xlog")
    flush_archive(primary)

    record = json.loads(store.run("list-backups", "--json").stdout)["backups"][0]
    assert record["stored_size"] > 3 * SEGMENT
    segments = swift_names(swift, store.location, ".segments/")
    assert len(segments) >= record["stored_size"] // SEGMENT
    assert record["data_object"] not in segments

    restored = restore_and_recover(store, key, pg_factory, "restored")
    assert restored.sql("SELECT md5(string_agg(b, '' ORDER BY i)) FROM blob") == expected

    store.run("prune", "--keep-backups", "1")  # nothing to prune: the only backup stays
    assert store.run("list-backups").stdout.split() == [key]
