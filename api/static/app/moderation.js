// The moderation page (being built: see issue 13).
import "./nav.js";
