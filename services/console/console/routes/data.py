"""The data browser: annotations by folder, class and name, their thumbnails, and one annotation with
its augmented variants."""

from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from azaion_shared.paths import VARIANT_COUNT, variant_stem
from console.deps import ConsoleDep, Session
from console.images import thumbnail
from console.state import FOLDERS

router = APIRouter()


def class_id(text: str, names: dict[int, str]) -> int | None:
    """A class given by id (``2``) or by name (``truck``, any case); None when it is neither."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    by_name = {name.lower(): i for i, name in names.items()}
    return by_name.get(text.lower())


@router.get("/data", response_class=HTMLResponse)
def data(
    user: Session, found: ConsoleDep, folder: str = "data", cls: str = "", q: str = "", page_no: int = 1
) -> HTMLResponse:
    pipeline = found.pipeline
    if folder not in FOLDERS:
        return found.page("missing.html", 404, user=user, what=f"folder {folder}")
    names = sorted(pipeline.names(folder))
    if q:
        names = [n for n in names if q.lower() in n.lower()]
    problem = None
    if cls.strip():
        classes = pipeline.class_names()
        wanted = class_id(cls, classes)
        if wanted is None:
            known = ", ".join(f"{i} {n}" for i, n in sorted(classes.items()) if not n.startswith("unused"))
            problem = f"no class {cls.strip()!r}: give a class id or name ({known or 'no run named its classes yet'})"
            names = []
        else:
            names = [n for n in names if any(b.class_id == wanted for b in pipeline.labels(folder, n))]
    size = found.options.page_size
    pages = max(1, -(-len(names) // size))
    page_no = min(max(1, page_no), pages)

    def link(number: int) -> str:
        return "/data?" + urlencode({"folder": folder, "cls": cls, "q": q, "page_no": number})

    return found.page(
        "data.html",
        user=user,
        folder=folder,
        folders=list(FOLDERS),
        cls=cls,
        problem=problem,
        q=q,
        names=names[(page_no - 1) * size : page_no * size],
        total=len(names),
        page_no=page_no,
        pages=pages,
        previous=link(page_no - 1) if page_no > 1 else None,
        next=link(page_no + 1) if page_no < pages else None,
    )


@router.get("/thumb/{folder}/{name}.jpg")
def thumb(folder: str, name: str, user: Session, found: ConsoleDep) -> Response:
    pipeline = found.pipeline
    if folder not in FOLDERS or name not in pipeline.names(folder):
        return found.page("missing.html", 404, what=f"{folder}/{name}")
    jpeg = thumbnail(pipeline.folder(folder).image(name), pipeline.labels(folder, name), pipeline.class_names())
    if jpeg is None:
        return found.page("missing.html", 404, what=f"a readable image {folder}/{name}")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


@router.get("/annotation/{name}", response_class=HTMLResponse)
def annotation(name: str, user: Session, found: ConsoleDep) -> HTMLResponse:
    pipeline = found.pipeline
    processed = pipeline.names("data-processed")
    stems = (variant_stem(name, i) for i in range(1, VARIANT_COUNT + 1))
    variants = [stem for stem in stems if stem in processed]
    where = next((f for f in ("data", "data-seed", "data_deleted") if name in pipeline.names(f)), None)
    if where is None and name not in processed:
        return found.page("missing.html", 404, user=user, what=f"annotation {name}")
    return found.page(
        "annotation.html", user=user, name=name, where=where, original=name in processed, variants=variants
    )
