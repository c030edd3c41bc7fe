"""The generation kind's parts that need no model: CSV, prompts, variations, names, PNG text."""

from __future__ import annotations

import io
import json

import pytest
from generation_helpers import CARD_ROWS, tiny_settings, write_csv
from PIL import Image

from imagineer_build.kinds.generation.config import GenerationConfig, VariationsConfig
from imagineer_build.kinds.generation.expand import derive_seed, expand
from imagineer_build.kinds.generation.naming import image_stem, slug
from imagineer_build.kinds.generation.pngmeta import parameters_text, with_metadata
from imagineer_build.kinds.generation.template import TemplateError, assemble, read_rows
from imagineer_build.kinds.generation.variations import combinations, load_all


def test_csv_with_quoted_commas_utf8_bom_and_blank_lines(tmp_path):
    p = tmp_path / "deck.csv"
    p.write_bytes("\ufeffvalue, suit ,layout\n"
                  'Ace,Spades,"one spade, ornate border"\n'
                  "\n"
                  'Reine,Cœurs,"la « dame », dorée"\n'
                  "Roi,Trèfles\n".encode())
    columns, rows = read_rows(p)
    assert columns == ["value", "suit", "layout"]
    assert rows[0]["layout"] == "one spade, ornate border"
    assert rows[1] == {"value": "Reine", "suit": "Cœurs", "layout": "la « dame », dorée"}
    assert rows[2] == {"value": "Roi", "suit": "Trèfles", "layout": ""}  # short row: empty cells
    assert len(rows) == 3


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,2,3\n", "quote values that contain commas"),
    ("a,a\n1,2\n", "column 'a' appears twice"),
    ("", "empty CSV"),
])
def test_csv_errors_name_the_problem(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(TemplateError, match=message):
        read_rows(p)


def test_latin1_csv_is_refused_clearly(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("value\nC\xe9sar\n".encode("latin-1"))
    with pytest.raises(TemplateError, match="not UTF-8"):
        read_rows(p)


def test_prompt_order_is_base_theme_row_style_unless_the_template_places_them():
    vals = {"base": "masterpiece", "theme": "gothic steampunk", "style": "ornate gold",
            "value": "Ace", "suit": "Spades"}
    assert assemble("{value} of {suit}", vals) == "masterpiece, gothic steampunk, Ace of Spades, ornate gold"
    placed = assemble("{theme} card: {value} of {suit}", vals)
    assert placed == "masterpiece, gothic steampunk card: Ace of Spades, ornate gold"
    # Empty values leave no stray commas or spaces behind.
    assert assemble("{base} {theme}, {value} of {suit}, {style}", {**vals, "base": "", "style": ""}) == \
        "gothic steampunk, Ace of Spades"


def test_variation_expansion_counts(tmp_path):
    (tmp_path / "outfits.yaml").write_text("- punk jacket\n- ball gown\n- armour\n")
    cfg = VariationsConfig.model_validate({"Hair": ["blonde", "neon blue"], "Outfit": "outfits.yaml"})
    values = load_all(cfg, tmp_path)
    assert values == {"Hair": ["blonde", "neon blue"], "Outfit": ["punk jacket", "ball gown", "armour"]}
    row = {"value": "Ace"}
    combos = combinations(values, cfg, row)
    assert len(combos) == 6 and combos[0] == {"Hair": "blonde", "Outfit": "punk jacket"}
    assert len({tuple(c.values()) for c in combos}) == 6
    limited = VariationsConfig.model_validate({"Hair": ["blonde", "neon blue"], "Outfit": "outfits.yaml", "limit": 4})
    assert combinations(values, limited, row) == combos[:4]
    rnd = VariationsConfig.model_validate({"values": {"Hair": ["blonde", "neon blue"], "Outfit": "outfits.yaml"},
                                           "mode": "random", "limit": 3})
    drawn = combinations(values, rnd, row)
    assert len(drawn) == 3 and len({tuple(c.items()) for c in drawn}) == 3
    assert all(c in combos for c in drawn)
    assert combinations(values, rnd, dict(row)) == drawn  # the draw depends on the row, not on chance
    many = [tuple(tuple(c.items()) for c in combinations(values, rnd, {"value": str(i)})) for i in range(12)]
    assert len(set(many)) > 1  # different rows draw differently
    one = VariationsConfig.model_validate({"Hair": ["a"], "limit": 5})
    assert combinations(load_all(one, tmp_path), one, row) == [{"Hair": "a"}]  # limit above the total


def test_expand_multiplies_rows_variations_and_copies_and_names_files(tmp_path):
    write_csv(tmp_path / "deck.csv", CARD_ROWS)
    cfg = GenerationConfig.model_validate({
        "template": "deck.csv", "prompt": "{value} of {suit}, {Hair}", "model": "tiny",
        "variations": {"Hair": ["blonde", "Neon Blue!"]}, "images_per_prompt": 2})
    jobs = expand(cfg, tmp_path)
    assert len(jobs) == 3 * 2 * 2
    assert jobs[2].stem == "003_ace-of-spades_neon-blue_1"
    assert jobs[0].stem.startswith("001_ace-of-spades_blonde")
    assert len({j.stem for j in jobs}) == len(jobs)
    assert len({j.seed for j in jobs}) == len(jobs)
    assert jobs[2].variations == {"Hair": "Neon Blue!"} and jobs[2].row == CARD_ROWS[0]


def test_seeds_follow_content_not_position_and_a_seed_column_pins_them(tmp_path):
    write_csv(tmp_path / "a.csv", CARD_ROWS)
    write_csv(tmp_path / "b.csv", list(reversed(CARD_ROWS)))
    base = {"prompt": "{value} of {suit}", "model": "tiny"}
    a = {j.prompt: j.seed for j in expand(GenerationConfig.model_validate({**base, "template": "a.csv"}), tmp_path)}
    b = {j.prompt: j.seed for j in expand(GenerationConfig.model_validate({**base, "template": "b.csv"}), tmp_path)}
    assert a == b
    assert derive_seed(0, {"seed": "1234"}, {}, 1) == 1235
    assert derive_seed(1, CARD_ROWS[0], {}, 0) != derive_seed(0, CARD_ROWS[0], {}, 0)


def test_file_names_are_sanitized():
    assert slug("Ace of Spades") == "ace-of-spades"
    assert slug("../../etc/passwd") == "etc-passwd"
    assert slug("Cœur / Épée: «noir»") == "cœur-epee-noir"
    assert slug('a<b>c:"d"|e?*') == "a-b-c-d-e"
    assert slug("x" * 200) == "x" * 48
    assert image_stem(7, 3, "", ["", "neon_blue"], None) == "007_neon-blue"


def test_the_shortcuts_in_names_and_prompts_change_nothing():
    """slug() skips Unicode folding for ASCII and tidy() skips its regexes when there is
    nothing to collapse (20,000 images a rebuild): both give what the long way gives, on
    random text of spaces, commas, tabs, no-break and em spaces, accents and ligatures."""
    import random
    import re
    import unicodedata

    from imagineer_build.kinds.generation.naming import NOT_WORD
    from imagineer_build.kinds.generation.template import tidy

    def long_slug(text: str) -> str:
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()
        return NOT_WORD.sub("-", text).strip("-")[:48].rstrip("-")

    def long_tidy(text: str) -> str:
        text = re.sub(r"\s*,(\s*,)+", ",", re.sub(r"\s+", " ", text))
        return re.sub(r"\s+,", ",", text).strip(" ,")

    alphabet = [" ", " ", ",", "a", "B", "\t", "\n", "\xa0", "\u2003", "é", "ß", "İ", "\x1c", "_", "-", "1", "ﬁ", "\u0301"]
    rng = random.Random(7)
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        assert slug(text) == long_slug(text), repr(text)
        assert tidy(text) == long_tidy(text), repr(text)


def test_png_parameters_chunk_reads_back_with_pillow():
    buf = io.BytesIO()
    Image.new("RGB", (16, 8), "red").save(buf, "PNG")
    params = {"prompt": "gothic, Ace of Spades", "negative": "blurry, low quality", "steps": 25,
              "scheduler": "dpmpp", "guidance": 8.0, "seed": 42, "width": 16, "height": 8,
              "model": "sd15", "model_hash": "0123456789abcdef", "model_sha256": "c" * 64,
              "loras": [{"name": "tarot-style", "weight": 0.6, "digest": "a" * 32, "source": "use:tarot-style",
                         "webui_hash": "b" * 64}],
              "row": {"suit": "Épées"}}
    png = with_metadata(buf.getvalue(), params)
    im = Image.open(io.BytesIO(png))
    im.load()
    text = im.text["parameters"]
    assert text.splitlines()[0] == "gothic, Ace of Spades <lora:tarot-style:0.6>"
    assert text.splitlines()[1] == "Negative prompt: blurry, low quality"
    assert "Steps: 25, Sampler: DPM++ 2M, CFG scale: 8, Seed: 42, Size: 16x8" in text
    assert 'Model hash: cccccccccc, Model: sd15, Lora hashes: "tarot-style: bbbbbbbbbbbb"' in text
    assert "Model hash" not in parameters_text({**params, "model_sha256": None})  # not a checkpoint file
    assert json.loads(im.text["imagineer"])["row"] == {"suit": "Épées"}  # non-Latin-1: iTXt
    assert im.getpixel((3, 3)) == (255, 0, 0)
    assert parameters_text({**params, "loras": []}).splitlines()[0] == "gothic, Ace of Spades"


def test_missing_placeholder_is_a_spec_error_naming_the_column(project):
    project.root.joinpath("imagineer.yaml").write_text(tiny_settings())
    write_csv(project.root / "data/deck.csv", CARD_ROWS)
    project.spec("""
        generations:
          deck:
            template: data/deck.csv
            model: tiny
            prompt: "{value} of {suit}, {visual_layot}"
    """)
    r = project.build("deck")
    assert r.code != 0
    err = r.out + r.err
    assert "{visual_layot}" in err and "did you mean {visual_layout}" in err
    assert "main.yaml:5" in err  # the prompt line


def test_spec_errors_for_lora_entries_and_random_without_limit(project):
    project.root.joinpath("imagineer.yaml").write_text(tiny_settings())
    project.spec("""
        generations:
          g:
            model: nope
            prompt: "a {Hair} cat"
            variations: {Hair: [red, blue], mode: random}
            loras: [{weight: 0.5}]
    """)
    r = project.build("g")
    err = r.out + r.err
    assert r.code != 0
    assert "unknown model 'nope'" in err
    assert "exactly one of `use: TARGET` or `path: FILE`" in err
    assert "mode: random needs a `limit`" in err


def test_a_bad_variation_file_is_a_spec_error(project):
    project.root.joinpath("imagineer.yaml").write_text(tiny_settings())
    project.write("data/outfits.yaml", "outfit: {a: 1}\n")
    project.spec("""
        generations:
          g:
            model: tiny
            prompt: "a cat in {Outfit}"
            variations: {Outfit: data/outfits.yaml}
    """)
    r = project.build("g")
    assert r.code != 0
    assert "variation Outfit: data/outfits.yaml must hold a non-empty YAML list" in r.out + r.err


def test_a_bad_csv_header_is_a_spec_error_and_a_bad_row_fails_the_build_naming_its_line(project):
    """The project check reads the header only (a 20,000-row deck is not parsed on every
    build's load); the rows are checked where they are expanded."""
    project.root.joinpath("imagineer.yaml").write_text(tiny_settings())
    project.write("data/deck.csv", "value,value\nAce,Spades\n")
    project.spec("""
        generations:
          deck:
            template: data/deck.csv
            model: tiny
            prompt: "{value}"
    """)
    r = project.build("deck")
    assert r.code != 0 and "column 'value' appears twice in the header" in r.out + r.err
    project.write("data/deck.csv", "value,suit\nAce,Spades\nKing,Hearts,ornate\n")
    r = project.build("deck")
    failed = [e for e in r.events() if e.get("event") == "target" and e["status"] == "failed"]
    assert r.code != 0 and [e["target"] for e in failed] == ["deck"]
    assert "deck.csv:3: 3 cells but 2 columns" in failed[0]["error"]
