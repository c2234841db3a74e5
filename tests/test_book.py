"""The book of the executed chapters (`make book`), built from what test_chapters left in build/executed, served by the home
app on a free port and read in headless Chromium: every page, every link within the site, each chapter's figures, search."""
from speedrun.tools.architecture import SERVICES
from speedrun.tools.book import build_book, crawl_book, search_finds
from speedrun.tools.chapters import list_chapters

SEARCH = ('tokenizer', '02 ·')  # a word of chapter 02, and how its page's title starts


def test_the_book_reads_in_a_browser(settings):
    built = build_book(settings, quiet=True)
    with SERVICES.start('home', settings=settings, log_prefix='test-book-') as running:
        site = running.url('home') + '/book'
        crawl = crawl_book(site + '/index.html')
        found = search_finds(site, SEARCH[0])
    chapters = {chapter.stem: crawl.images.get(f'{site}/chapters/{chapter.stem}.html') for chapter in list_chapters()}
    images = [image for page_images in crawl.images.values() for image in page_images]
    print(f'\nbook: {built.pages} pages built in {built.seconds:.1f} s; crawled {len(crawl.pages)} pages, {crawl.links} links, '
          f'broken: {len(crawl.broken)}, console errors: {len(crawl.console_errors)}, images: {len(images)}')
    for stem, page_images in chapters.items():
        print(f'  {stem}: ' + ', '.join(f"{src.rsplit('/', 1)[1][:24]} {width}x{height}" for src, width, height in page_images or []))
    assert not crawl.broken, '\n'.join(crawl.broken[:30])
    assert not crawl.console_errors, '\n'.join(crawl.console_errors[:30])
    assert None not in chapters.values(), [stem for stem, page_images in chapters.items() if page_images is None]  # every chapter has a page
    not_loaded = [(stem, src) for stem, page_images in chapters.items() for src, width, height in page_images if not width or not height]
    assert not not_loaded, not_loaded
    for copy in built.copies:  # a chapter whose copy shows a diagram shows it on its page
        if 'diagrams/' in copy.notebook.read_text():
            assert any(src.endswith('.svg') for src, _, _ in chapters[copy.chapter.stem]), (copy.chapter.stem, chapters[copy.chapter.stem])
    assert any(title.startswith(SEARCH[1]) for title in found), found
