"""`builtin:tiny-vlm`: a LLaVA model (CLIP vision tower + Llama) with tiny configs and seeded
random weights, saved as an ordinary transformers folder (processor, chat template, weights).

It is what JoyCaption is, only small: captions go through the same AutoProcessor chat template,
AutoModelForImageTextToText and generate() as a real model. The output layer is cut down to
whole words of the tokenizer's corpus, so its nonsense captions are readable words.
"""

from __future__ import annotations

from pathlib import Path

from .builtin import SEED, builtin_folder, ensure_folder

IMAGE, PAD, BOS, END = "<image>", "<pad>", "<s>", "<|end|>"
ROLES = ("<|system|>", "<|user|>", "<|assistant|>")
# Llama-3-like: bos, a role header per message, the image placeholder where the content says.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|end|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
IMAGE_SIZE, PATCH = 32, 8
IMPORTS = ("torch", "transformers:AutoProcessor,AutoModelForImageTextToText,LlavaForConditionalGeneration,"
           "LlavaProcessor,LlavaConfig,LlamaConfig,CLIPVisionConfig,CLIPImageProcessor,PreTrainedTokenizerFast")


def ensure_tiny_vlm(models_dir: Path) -> Path:
    return ensure_folder(builtin_folder(models_dir, "tiny-vlm"), _make, IMPORTS)


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from .tokenizer import byte_level_bpe

    vocab, merges = byte_level_bpe()
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=END, pad_token=PAD,
                                   extra_special_tokens={"image_token": IMAGE}, model_max_length=1024)
    fast.add_special_tokens({"additional_special_tokens": list(ROLES)})
    return fast


def _make(dest: Path) -> None:
    import torch

    from .loading import quiet_transformers

    quiet_transformers()
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from .tokenizer import CORPUS

    tok = _tokenizer()
    ids = tok.get_vocab()
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=IMAGE_SIZE, patch_size=PATCH, projection_dim=32)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_id=ids[IMAGE],
                      vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(SEED)
    model = LlavaForConditionalGeneration(cfg).eval()
    words = {ids[t] for t in {"Ġ" + w for w in CORPUS.split()} if t in ids}
    with torch.no_grad():  # only whole corpus words can win the argmax: readable nonsense
        head = model.get_output_embeddings().weight
        keep = torch.zeros(head.shape[0], dtype=torch.bool)
        keep[sorted(words)] = True
        head[~keep] = 0.0
    model.generation_config.do_sample = False
    model.generation_config.max_new_tokens = 40
    images = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    proc = LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=PATCH,
                          vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
                          num_additional_image_tokens=1)
    model.save_pretrained(dest, safe_serialization=True)
    proc.save_pretrained(dest)
