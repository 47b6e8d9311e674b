// Package page reads an HTML page for what a crawler needs: the links to
// follow and every image a reader of the page would see, each with the
// words that describe it.
//
// # Images
//
// An image is found in <img> (src, or the largest srcset candidate; lazy
// loading's data-src and data-srcset, and <img> in <noscript>), in
// <picture> (one image: the largest candidate of its <source>s and
// <img>, described by the <img>), and in og:image, twitter:image and
// <link rel=image_src>. One URL is one image: what its appearances say is
// merged, the first one found winning. Each gets its alt and title
// attributes, its declared width and height, the <figcaption> of its
// <figure> as caption, and as context the nearest heading before it plus
// the text of the paragraph, list item, table cell or quote around it —
// or, outside any, of the nearest paragraph before it under the same
// heading, or else the next one.
//
// # Decorative images
//
// An image is decorative, and left out of Records unless asked for, when
// the first of these rules matches (its DecorativeReason names it):
//
//  1. role="presentation" or "none", or aria-hidden="true";
//  2. a declared width or height of 2 pixels or less (tracking pixels,
//     spacers);
//  3. a declared width and height both of 32 pixels or less (icons);
//  4. a spacer's file name: spacer, blank, pixel, clear, transparent,
//     trans, dot or 1x1, with an image extension;
//  5. alt="" written out, with no title and no caption.
//
// # Bounds
//
// Parsing is one pass of the HTML tokenizer, linear in the page: at most
// Limits.MaxBytes of HTML are read, an element nesting deeper than
// MaxDepth is read as if flat, end tags look back a bounded number of
// open elements, and links, images and every text are capped. Text is
// decoded to UTF-8 (Content-Type charset, byte-order mark, <meta
// charset>, else UTF-8 when valid); undecodable bytes and control
// characters never reach a record. The content of <script>, <style>,
// <template>, <textarea> and <iframe> is never text.
//
// # Records
//
// Page.Records makes one record per image: page_url is the canonical URL
// when the page names one, title the image's title attribute or else the
// page's title, description its context, tags the page's meta keywords,
// format a guess from the extension. A page with <meta name=robots
// content=noindex> gives no records; its links are still followed unless
// it also says nofollow.
//
// URLs are normalised by Normalize (RFC 3986 normalisation plus dropping
// fragments, user info and default ports), so that one resource has one
// spelling, the key of a crawler's seen-set.
package page
