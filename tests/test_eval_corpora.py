"""Corpus preparers on tiny trees with the real naming conventions and real (espeak-ng) audio."""

import json
import shutil

import pytest
import soundfile as sf

from clsp.audio import resample
from clsp.cli import main
from clsp.data.captions import get_captions
from clsp.data.manifest import load_checked
from clsp.errors import ClspError
from eval.corpora import prepare_caption_dataset, prepare_cremad, prepare_iemocap, prepare_ravdess


@pytest.fixture(scope="module")
def clips(small_corpus):
    return sorted((small_corpus / "wavs").glob("*.wav"))


def put(src, dst, rate=16000):
    """Copy a synthetic clip to ``dst`` (resampled to ``rate`` Hz, as the corpus ships it)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if rate == 16000:
        shutil.copy(src, dst)
    else:
        audio, sr = sf.read(src, dtype="float32")
        sf.write(dst, resample(audio, sr, rate), rate, subtype="PCM_16")
    return dst


EMO_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"


def emo_block(start, utt, label):
    return (f"[{start:.4f} - {start + 2:.4f}]\t{utt}\t{label}\t[2.5000, 3.0000, 2.0000]\n"
            "C-E2:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n")


def test_iemocap_four_classes_excited_merged_into_happy(clips, tmp_path):
    root = tmp_path / "IEMOCAP_full_release"
    plan = {"Session1": ("Ses01F_impro01", [("F000", "neu"), ("M001", "exc"), ("F002", "fru"), ("M003", "ang")]),
            "Session2": ("Ses02M_script01_1", [("F000", "hap"), ("M001", "sad"), ("F002", "xxx")])}
    i = 0
    for session, (dialog, utts) in plan.items():
        text = EMO_HEADER
        for n, (suffix, label) in enumerate(utts):
            utt = f"{dialog}_{suffix}"
            text += emo_block(2.0 * n, utt, label)
            put(clips[i], root / session / "sentences" / "wav" / dialog / f"{utt}.wav")
            i += 1
        (root / session / "dialog" / "EmoEvaluation").mkdir(parents=True)
        (root / session / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text(text)
    # a labelled utterance whose wav is missing is recorded as a reject
    with open(root / "Session2" / "dialog" / "EmoEvaluation" / "Ses02M_script01_1.txt", "a") as f:
        f.write(emo_block(20.0, "Ses02M_script01_1_M009", "neu"))

    summary = prepare_iemocap(root, tmp_path / "out")
    cuts = {c.id: c for c in load_checked(tmp_path / "out" / "cuts_test.jsonl.gz")}
    assert sorted(cuts) == ["Ses01F_impro01_F000", "Ses01F_impro01_M001", "Ses01F_impro01_M003",
                            "Ses02M_script01_1_F000", "Ses02M_script01_1_M001"]
    assert cuts["Ses01F_impro01_M001"].custom["emotion"] == "happy"  # exc → happy
    assert cuts["Ses01F_impro01_M001"].custom["iemocap_label"] == "exc"
    assert cuts["Ses02M_script01_1_F000"].custom["gender"] == "female"
    assert cuts["Ses01F_impro01_M003"].supervisions[0].speaker == "Ses01M"
    assert summary["labels"]["emotion"] == {"angry": 1, "happy": 2, "neutral": 1, "sad": 1}
    assert sum(summary["skipped"].values()) == 2  # fru, xxx
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 1 and "M009" in rejects[0]["path"] and "missing" in rejects[0]["message"]
    assert rejects[0]["code"] == "missing_file" and rejects[0]["cut_id"] is None
    assert rejects[0]["manifest"] == "cuts_test.jsonl.gz"


def test_iemocap_errors_name_the_problem(tmp_path):
    with pytest.raises(ClspError, match="no Session1..Session5"):
        prepare_iemocap(tmp_path, tmp_path / "out")
    bad = tmp_path / "Session1" / "dialog" / "EmoEvaluation"
    bad.mkdir(parents=True)
    (bad / "Ses01F_impro01.txt").write_text("[6.29 - 8.23] Ses01F_impro01_F000 neu\n")
    with pytest.raises(ClspError, match=r"Ses01F_impro01\.txt:1: not an EmoEvaluation utterance line"):
        prepare_iemocap(tmp_path, tmp_path / "out")


def test_ravdess_emotion_intensity_and_gender_from_actor_id(clips, tmp_path):
    root = tmp_path / "ravdess"
    put(clips[0], root / "Actor_01" / "03-01-05-01-02-01-01.wav", rate=48000)  # angry, normal, male
    put(clips[1], root / "Actor_12" / "03-01-03-02-01-02-12.wav", rate=48000)  # happy, strong, female
    put(clips[2], root / "Actor_12" / "03-01-06-01-01-01-12.wav", rate=48000)  # fearful
    put(clips[3], root / "Actor_01" / "03-02-03-01-01-01-01.wav", rate=48000)  # song: skipped
    put(clips[4], root / "Actor_03" / "03-01-09-01-01-01-03.wav", rate=48000)  # emotion 09: not RAVDESS
    summary = prepare_ravdess(root, tmp_path / "out")
    cuts = {c.id: c for c in load_checked(tmp_path / "out" / "cuts_test.jsonl.gz")}
    assert set(cuts) == {"03-01-05-01-02-01-01", "03-01-03-02-01-02-12", "03-01-06-01-01-01-12"}
    a, b = cuts["03-01-05-01-02-01-01"], cuts["03-01-03-02-01-02-12"]
    assert (a.custom["emotion"], a.custom["gender"], a.custom["emotional_intensity"]) == ("angry", "male", "normal")
    assert (b.custom["emotion"], b.custom["gender"], b.custom["emotional_intensity"]) == ("happy", "female", "strong")
    assert a.supervisions[0].text == "Dogs are sitting by the door."
    assert a.sampling_rate == 48000 and a.duration == pytest.approx(sf.info(clips[0]).duration, abs=1e-3)
    assert summary["skipped"] == {"song (vocal channel 02)": 1} and summary["rejected"] == 1
    assert prepare_ravdess(root, tmp_path / "song", include_song=True)["clips"] == 4


def test_cremad_emotions_age_bins_and_broken_files(clips, tmp_path):
    root = tmp_path / "CREMA-D"
    (root / "AudioWAV").mkdir(parents=True)
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n"
        "1003,62,Female,African American,Not Hispanic\n")
    put(clips[0], root / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    put(clips[1], root / "AudioWAV" / "1002_IEO_HAP_HI.wav")
    put(clips[2], root / "AudioWAV" / "1003_TIE_FEA_LO.wav")
    put(clips[3], root / "AudioWAV" / "1090_WSI_NEU_XX.wav")  # actor missing from the CSV: kept, no age
    (root / "AudioWAV" / "1076_MTI_SAD_XX.wav").write_bytes(b"RIFF\x00\x00")  # a broken file, as the real one
    summary = prepare_cremad(root, tmp_path / "out")
    cuts = {c.id: c for c in load_checked(tmp_path / "out" / "cuts_test.jsonl.gz")}
    assert set(cuts) == {"1001_DFA_ANG_XX", "1002_IEO_HAP_HI", "1003_TIE_FEA_LO", "1090_WSI_NEU_XX"}
    assert [cuts[i].custom.get("age_bin") for i in sorted(cuts)] == ["40-59", "20-39", "60+", None]
    assert cuts["1003_TIE_FEA_LO"].custom["emotion"] == "fearful"
    assert cuts["1003_TIE_FEA_LO"].custom["emotion_level"] == "low"
    assert cuts["1002_IEO_HAP_HI"].custom["gender"] == "female"
    assert cuts["1001_DFA_ANG_XX"].supervisions[0].text == "Don't forget a jacket."
    rejects = (tmp_path / "out" / "rejects.jsonl").read_text()
    assert summary["rejected"] == 1 and "1076_MTI_SAD_XX" in rejects and "unreadable audio" in rejects
    (root / "VideoDemographics.csv").write_text("ActorID,Age,Sex\n1001,fifty,Male\n")
    with pytest.raises(ClspError, match=r"VideoDemographics.csv:2: column 'Age' must be an integer"):
        prepare_cremad(root, tmp_path / "out")


def psc_rows():
    return [
        {"source": "voxceleb", "relative_audio_path": "id10001/1zcIwhmdeo4/00001_voicefixer.wav",
         "transcription": "hello there", "text_description": ["A man speaks calmly.", "A calm male voice, low."],
         "name": "A.J._Buckley", "gender": "male", "accent": "Irish", "pitch": "low-pitched",
         "speaking_rate": "measured speed", "intrinsic_tags": ["deep"], "situational_tags": None},
        {"source": "expresso", "relative_audio_path": "audio_48khz/read/ex01/happy/base/ex01_happy_00001.wav",
         "transcription": "what a day", "text_description": ["A woman speaks happily."], "name": "ex01",
         "gender": "female", "accent": "American", "pitch": "high-pitched", "speaking_rate": "fast speed",
         "intrinsic_tags": [], "situational_tags": ["happy"]},
        {"source": "ears", "relative_audio_path": "p001/emo_anger_freeform.wav", "transcription": "",
         "text_description": ["An angry voice."], "name": "p001", "gender": "male", "accent": "American",
         "pitch": "low-pitched", "speaking_rate": "slow speed", "intrinsic_tags": [], "situational_tags": None},
    ]


def test_paraspeechcaps_from_a_local_snapshot(clips, tmp_path):
    import datasets

    snap = tmp_path / "paraspeechcaps"
    (snap / "data").mkdir(parents=True)
    datasets.Dataset.from_list(psc_rows()).to_parquet(str(snap / "data" / "test-00000-of-00001.parquet"))
    audio = tmp_path / "audio"
    put(clips[0], audio / "voxceleb" / "id10001" / "1zcIwhmdeo4" / "00001.wav")  # the original, not _voicefixer
    put(clips[1], audio / "expresso" / "audio_48khz/read/ex01/happy/base/ex01_happy_00001.wav", rate=48000)
    summary = prepare_caption_dataset(snap, audio, tmp_path / "out", split="test")
    cuts = load_checked(tmp_path / "out" / "cuts_test.jsonl.gz")
    assert [c.id for c in cuts] == ["paraspeechcaps-test-audio_48khz-read-ex01-happy-base-ex01_happy_00001",
                                    "paraspeechcaps-test-id10001-1zcIwhmdeo4-00001"]
    vox = cuts[1]
    assert [c.text for c in get_captions(vox, kind="global")] == ["A man speaks calmly.", "A calm male voice, low."]
    assert all(c.status == "kept" and c.source.model == "paraspeechcaps" for c in get_captions(vox))
    assert (vox.custom["gender"], vox.custom["accent"], vox.custom["intrinsic_tags"]) == ("male", "Irish", ["deep"])
    assert vox.supervisions[0].speaker == "A.J._Buckley" and vox.supervisions[0].text == "hello there"
    assert summary["rejected"] == 1  # the EARS clip is not downloaded
    assert "p001/emo_anger_freeform.wav" in (tmp_path / "out" / "rejects.jsonl").read_text()


def test_fcaps_preset_with_fine_captions_from_a_saved_dataset(clips, tmp_path):
    import datasets

    put(clips[0], tmp_path / "audio" / "a" / "one.wav")
    rows = [{"audio_path": "a/one.wav", "short_captions": ["Slow, low voice."],
             "long_captions": ["First fine caption, long enough to matter here.", "Second fine caption."],
             "text": "words", "speaker": "s1", "source": None, "gender": "female"}]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "fcaps"))
    prepare_caption_dataset(tmp_path / "fcaps", tmp_path / "audio", tmp_path / "out", preset="fcaps")
    (cut,) = load_checked(tmp_path / "out" / "cuts_test.jsonl.gz")
    assert [c.text for c in get_captions(cut, kind="fine")] == rows[0]["long_captions"]
    assert [c.text for c in get_captions(cut, kind="global")] == ["Slow, low voice."]
    with pytest.raises(ClspError, match=r"no column\(s\) missing_col .*choose with --column"):
        prepare_caption_dataset(tmp_path / "fcaps", tmp_path / "audio", tmp_path / "o2", preset="fcaps",
                                columns={"fine_captions": "missing_col"})


def test_prepare_cli(clips, tmp_path, capsys):
    root = tmp_path / "ravdess"
    put(clips[0], root / "Actor_02" / "03-01-02-01-01-01-02.wav")
    assert main(["eval", "prepare", "ravdess", "--root", str(root), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "prepare ravdess: 1 clips" in out and "emotion: calm=1" in out
    assert main(["eval", "prepare", "cremad", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("clsp: error:") and "CREMA-D folder not found" in err[0]
