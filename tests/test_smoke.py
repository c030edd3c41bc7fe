def test_dir_source_builds_then_is_cached(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
    """)
    first = project.build()
    assert first.code == 0, first.err
    assert first.statuses() == {"shapes": "built"}
    second = project.build()
    assert second.statuses() == {"shapes": "cached"}
    assert len(list((project.root / "out/shapes/images").iterdir())) == 12
