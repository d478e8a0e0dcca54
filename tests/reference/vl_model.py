"""VL-T5 (the LST authors' VL-T5/src/modeling_t5.py, CLIP-T5 settings) in plain PyTorch 1.13, on
top of lst_model.py's T5 math: the visual embedding, the joint encoder's [text ; visual] input
with its bias layout, and LST's side encoder over [text ; visual] (docs/lst-design.md section 10).

Written from the authors' Python, not from ladder's C++. Weights are a dict named like ladder's
checkpoints (encoder.visual_embedding.* for the visual embedding).
"""
import torch
import torch.nn.functional as F

from lst_model import (GATE_T, block, drop, extended_mask, head, position_bias, rms_norm, shift_right, side_stack,
                       t5_stacks)

VIS = "encoder.visual_embedding."


def visual_embedding(cfg, w, feats, boxes=None, img_order=None, obj_order=None, feature_mean=None, feature_std=None):
    """VisualEmbedding.forward with individual_vis_layer_norm = use_vis_layer_norm =
    use_vis_order_embedding = True: each projection has its own T5 layer norm; the object order
    is a row of the shared table counted from its end (VL-T5's <vis_extra_id_j>)."""
    b, n, _ = feats.shape
    eps = cfg["layer_norm_epsilon"]
    if boxes is None:
        boxes = torch.zeros(b, n, 4)  # the authors' CLIP loaders
    if img_order is None:
        img_order = torch.zeros(b, n, dtype=torch.long)
    if obj_order is None:
        obj_order = torch.arange(n).unsqueeze(0).expand(b, n)
    if feature_mean is not None:  # ladder's --feature-norm standardize (the authors read them as stored)
        feats = (feats - feature_mean) / feature_std
    feat = rms_norm(F.linear(feats, w[VIS + "feat_embedding.0.weight"], w[VIS + "feat_embedding.0.bias"]),
                    w[VIS + "feat_embedding.1.weight"], eps)
    area = (boxes[:, :, 3] - boxes[:, :, 2]) * (boxes[:, :, 1] - boxes[:, :, 0])
    pos_in = torch.cat([boxes, area.unsqueeze(2)], 2)
    pos = rms_norm(F.linear(pos_in, w[VIS + "absolute_vis_pos_embedding.0.weight"],
                            w[VIS + "absolute_vis_pos_embedding.0.bias"]),
                   w[VIS + "absolute_vis_pos_embedding.1.weight"], eps)
    shared = w["shared.weight"]
    obj = F.embedding(shared.shape[0] - obj_order - 1, shared)
    img = F.embedding(img_order, w[VIS + "img_order_embedding.weight"])
    return feat + pos + img + obj


def joint_bias(cfg, table, text_mask, visual_tokens):
    """JointEncoder's self-attention bias: the relative bias among the L text positions only
    (zeros wherever a visual position is involved), plus the padding mask of [text ; visual]."""
    b, text_len = text_mask.shape
    total = text_len + visual_tokens
    bias = torch.zeros(1, table.shape[1], total, total)
    bias[:, :, :text_len, :text_len] = position_bias(table, text_len, text_len, True, cfg)
    mask = torch.cat([text_mask, torch.ones(b, visual_tokens, dtype=text_mask.dtype)], 1)
    return bias + extended_mask(mask, False), mask


def vl_t5_forward(cfg, w, ids, mask, vis, labels, p=0.0):
    """VLT5 forward (a baseline: the backbone encoder reads [text ; visual]); returns logits, loss."""
    heads = cfg["num_heads"]
    dec_ids = shift_right(labels, cfg["decoder_start_token_id"], cfg["pad_token_id"])
    text = F.embedding(ids, w["shared.weight"])
    visual = visual_embedding(cfg, w, **vis)
    enc_bias, joint_mask = joint_bias(cfg, w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                                      mask, visual.shape[1])
    h = drop(torch.cat([text, visual], 1), p)
    for i in range(cfg["num_layers"]):
        h = block(h, w, f"encoder.block.{i}.", cfg, heads, enc_bias, p=p)
    enc = drop(rms_norm(h, w["encoder.final_layer_norm.weight"], cfg["layer_norm_epsilon"]), p)
    n = dec_ids.shape[1]
    dec_bias = (position_bias(w["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], n, n, False, cfg)
                + extended_mask(torch.ones(ids.shape[0], n, dtype=torch.long), True))
    cross_bias = extended_mask(joint_mask, False)
    h = drop(F.embedding(dec_ids, w["shared.weight"]), p)
    for i in range(cfg["num_decoder_layers"]):
        h = block(h, w, f"decoder.block.{i}.", cfg, heads, dec_bias, enc, cross_bias, p=p)
    dec = drop(rms_norm(h, w["decoder.final_layer_norm.weight"], cfg["layer_norm_epsilon"]), p)
    logits = head(cfg, w, dec)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    return logits, loss


def vl_side_encoder(cfg, w, kept, embeddings, ladder_inputs, self_bias, p=0.0, text_mask=None,
                    visual_stream="authors"):
    """JointEncoder's side half (use_gate learnable, add_residual_after False): as
    lst_model.side_stack, but the stream is [text ; visual] while the backbone states, hence the
    rungs, are text only; the rung is padded with zeros after the ladder Linear (so its bias does
    not reach the visual positions), and the gate still scales the whole stream.

    visual_stream "scaled" is ladder's variant: the gates mix the text positions only, and before
    the first side block each example's visual positions are scaled (a constant, no gradient) to
    the RMS of its text positions' stream, padding left out."""
    prefix = "side_encoder."
    s = F.linear(drop(embeddings, p), w[prefix + "first_downsample.weight"], w[prefix + "first_downsample.bias"])
    b, total, d_side = s.shape
    for j, layer in enumerate(kept):
        mu = torch.sigmoid(w[prefix + "gate"][layer] / GATE_T)
        rung = F.linear(ladder_inputs[layer], w[prefix + f"ladder.{j}.weight"], w[prefix + f"ladder.{j}.bias"])
        length = rung.shape[1]
        if visual_stream == "scaled":
            text = mu * s[:, :length] + (1 - mu) * rung
            visual = s[:, length:]
            if j == 0:
                keep = text_mask[:, :, None].to(text.dtype)
                text_ms = ((text.detach() ** 2) * keep).sum((1, 2)) / (keep.sum((1, 2)) * d_side)
                visual_ms = (visual.detach() ** 2).mean((1, 2))
                ratio = torch.where(keep.sum((1, 2)) > 0, (text_ms / visual_ms).sqrt(), torch.ones_like(text_ms))
                visual = visual * ratio[:, None, None]
            s = torch.cat([text, visual], 1)
        else:
            rung = torch.cat([rung, rung.new_zeros(b, total - length, d_side)], 1)
            s = mu * s + (1 - mu) * rung
        s = block(s, w, prefix + f"side.block.{j}.", cfg, cfg["num_heads"], self_bias, p=p)
    return drop(rms_norm(s, w[prefix + "side.final_layer_norm.weight"], 1e-6), p)


def vl_lst_forward(cfg, backbone, trained, settings, ids, mask, vis, labels, side_p=0.0, visual_stream="authors"):
    """VLT5 with use_side_transformers: the frozen backbone reads the text alone; the side
    encoder reads first_downsample([text ; visual]) with the joint mask and the side's own
    relative bias among the text positions; the side decoder cross-attends to all of it.
    `trained` holds the side weights and the visual embedding (whose object-order rows are the
    backbone's frozen shared table)."""
    dec_ids = shift_right(labels, cfg["decoder_start_token_id"], cfg["pad_token_id"])
    with torch.no_grad():
        _, _, enc_blocks, dec_blocks = t5_stacks(cfg, backbone, ids, mask, dec_ids, 0.0,
                                                 (settings["encoder_layers"], settings["decoder_layers"]))
    w = dict(backbone)
    w.update(trained)
    visual = visual_embedding(cfg, w, **vis)
    enc_table = w["side_encoder.side.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    enc_bias, joint_mask = joint_bias(cfg, enc_table, mask, visual.shape[1])
    text = F.embedding(ids, backbone["shared.weight"])
    s_enc = vl_side_encoder(cfg, w, settings["encoder_layers"], torch.cat([text, visual], 1), enc_blocks, enc_bias,
                            side_p, mask, visual_stream)
    n = dec_ids.shape[1]
    dec_bias = (position_bias(w["side_decoder.side.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], n, n,
                              False, cfg)
                + extended_mask(torch.ones(ids.shape[0], n, dtype=torch.long), True))
    s_dec = side_stack(cfg, w, "side_decoder.", settings["decoder_layers"], F.embedding(dec_ids, backbone["shared.weight"]),
                       dec_blocks, dec_bias, s_enc, extended_mask(joint_mask, False), side_p)
    up = F.linear(s_dec, w["upsample.weight"], w["upsample.bias"])
    logits = head(cfg, backbone, up)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    return logits, loss


def visual_names(cfg, feature_dim, images):
    """Every visual-embedding tensor and its shape, named as ladder saves them."""
    d = cfg["d_model"]
    return {VIS + "feat_embedding.0.weight": [d, feature_dim], VIS + "feat_embedding.0.bias": [d],
            VIS + "feat_embedding.1.weight": [d], VIS + "absolute_vis_pos_embedding.0.weight": [d, 5],
            VIS + "absolute_vis_pos_embedding.0.bias": [d], VIS + "absolute_vis_pos_embedding.1.weight": [d],
            VIS + "img_order_embedding.weight": [images, d]}
