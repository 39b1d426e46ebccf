/*
 * Fills an XForm with JavaRosa (the engine inside ODK Collect) and reports the resulting state.
 *
 * Compiled at test time against the ODK Validate jar bundled with pyxform, which carries JavaRosa
 * and Jackson: javac -cp ODK_Validate.jar -d build Harness.java
 *
 * stdin:  {"xform": "<h:html ...>", "language": "English (en)" | null,
 *          "answers": [{"name": "q1", "value": "yes"}, {"name": "q2", "values": ["a", "b"]}]}
 * stdout: {"engine": "javarosa", "language": "...",
 *          "nodes": {"<name>": {"value", "relevant", "type", "label"}},
 *          "violations": [{"name", "condition", "message"}],
 *          "errors": [{"name", "message"}], "instance_xml": "<data ...>"}
 *
 * Answers are applied in order through FormEntryController, the path Collect uses. An answer that
 * cannot be applied (unknown name, non-relevant or read-only node, value outside the choice list,
 * unparseable value) is reported in "errors" and skipped. A constraint-violating answer is stored
 * anyway (as Collect does when it saves a draft) so both engines hold the same values; the
 * violation appears in "violations", which reflects the final state of every relevant question.
 * "value" is the node's value as serialized (select_multiple: codes space-separated, in the order
 * answered), and "" for a non-relevant node, whose held value is neither submitted nor seen by
 * expressions. A form that cannot be loaded makes the harness exit with status 2 and a message on
 * stderr.
 */

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import org.javarosa.core.model.Constants;
import org.javarosa.core.model.FormDef;
import org.javarosa.core.model.FormIndex;
import org.javarosa.core.model.GroupDef;
import org.javarosa.core.model.IFormElement;
import org.javarosa.core.model.QuestionDef;
import org.javarosa.core.model.SelectChoice;
import org.javarosa.core.model.data.IAnswerData;
import org.javarosa.core.model.data.SelectMultiData;
import org.javarosa.core.model.data.SelectOneData;
import org.javarosa.core.model.data.helper.Selection;
import org.javarosa.core.model.instance.InstanceInitializationFactory;
import org.javarosa.core.model.instance.TreeElement;
import org.javarosa.form.api.FormEntryCaption;
import org.javarosa.form.api.FormEntryController;
import org.javarosa.form.api.FormEntryModel;
import org.javarosa.form.api.FormEntryPrompt;
import org.javarosa.model.xform.XFormSerializingVisitor;
import org.javarosa.xform.util.XFormAnswerDataParser;
import org.javarosa.xform.util.XFormUtils;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

public final class Harness {
    private static final String XFORMS_NS = "http://www.w3.org/2002/xforms";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Failure to load or fill the form at all; reported on stderr with exit status 2. */
    static final class HarnessFailure extends Exception {
        private static final long serialVersionUID = 1L;

        HarnessFailure(String message) {
            super(message);
        }
    }

    /** The bind attributes the harness needs to classify model nodes (keyed by nodeset). */
    private record BindFacts(boolean calculated, boolean constantReadonly) {}

    private final FormDef form;
    private final FormEntryModel model;
    private final FormEntryController controller;
    private final Map<String, BindFacts> binds;
    private final Map<String, FormIndex> indexByRef = new HashMap<>();
    private final Map<String, TreeElement> elementByName = new LinkedHashMap<>();
    private final ArrayNode errors = JSON.createArrayNode();

    private Harness(String xform) throws Exception {
        binds = readBinds(xform);
        try {
            form = XFormUtils.getFormFromInputStream(
                    new ByteArrayInputStream(xform.getBytes(StandardCharsets.UTF_8)));
        } catch (RuntimeException | org.javarosa.xform.parse.XFormParser.ParseException e) {
            throw new HarnessFailure("JavaRosa could not parse the form: " + e.getMessage());
        }
        form.initialize(true, new InstanceInitializationFactory());
        model = new FormEntryModel(form);
        controller = new FormEntryController(model);
        indexQuestionsAndGroups();
        indexElements(form.getMainInstance().getRoot(), true);
    }

    public static void main(String[] args) throws Exception {
        PrintStream stdout = System.out;
        // JavaRosa may print diagnostics; keep stdout for the one JSON response.
        System.setOut(System.err);
        try {
            JsonNode request = JSON.readTree(readAll(System.in));
            if (request == null || !request.hasNonNull("xform")) {
                throw new HarnessFailure("request must be a JSON object with an \"xform\" string");
            }
            Harness harness = new Harness(request.get("xform").asText());
            ObjectNode response = harness.fill(request);
            stdout.write(JSON.writeValueAsBytes(response));
            stdout.write('\n');
            stdout.flush();
        } catch (HarnessFailure e) {
            System.err.println("javarosa harness: " + e.getMessage());
            System.exit(2);
        }
    }

    private ObjectNode fill(JsonNode request) throws HarnessFailure {
        JsonNode language = request.get("language");
        if (language != null && !language.isNull()) {
            String wanted = language.asText();
            String[] available = model.getLanguages();
            if (available == null || !Arrays.asList(available).contains(wanted)) {
                throw new HarnessFailure("language " + quote(wanted) + " is not in the form; it has "
                        + (available == null ? "no translations" : Arrays.toString(available)));
            }
            controller.setLanguage(wanted);
        }
        JsonNode answers = request.get("answers");
        if (answers != null && !answers.isNull()) {
            for (JsonNode answer : answers) {
                applyAnswer(answer);
            }
        }

        ObjectNode response = JSON.createObjectNode();
        response.put("engine", "javarosa");
        response.put("language", model.getLanguage());
        ObjectNode nodes = response.putObject("nodes");
        ArrayNode violations = response.putArray("violations");
        for (Map.Entry<String, TreeElement> entry : elementByName.entrySet()) {
            describe(entry.getKey(), entry.getValue(), nodes, violations);
        }
        response.set("errors", errors);
        try {
            byte[] payload = new XFormSerializingVisitor().serializeInstance(form.getInstance());
            response.put("instance_xml", stripXmlDeclaration(new String(payload, StandardCharsets.UTF_8)));
        } catch (java.io.IOException e) {
            throw new HarnessFailure("could not serialize the instance: " + e.getMessage());
        }
        return response;
    }

    // ---- answering -------------------------------------------------------------------------

    private void applyAnswer(JsonNode answer) {
        String name = answer.path("name").asText("");
        TreeElement element = elementByName.get(name);
        if (element == null) {
            error(name, "no node named " + quote(name) + " in the form");
            return;
        }
        FormIndex index = indexByRef.get(refKey(element));
        if (index == null || !(form.getChild(index) instanceof QuestionDef)) {
            error(name, "is not a question the harness can answer (" + typeOf(element) + ")");
            return;
        }
        if (isConstantReadonly(element) || model.isIndexReadonly(index)) {
            error(name, "is read-only (" + typeOf(element) + "); it cannot be answered");
            return;
        }
        if (!element.isRelevant()) {
            error(name, "is not relevant (hidden by its relevance or a parent group's); answer not applied");
            return;
        }
        List<String> values = answerValues(answer);
        FormEntryPrompt prompt = model.getQuestionPrompt(index);
        IAnswerData data;
        try {
            data = toAnswerData(prompt, values);
        } catch (IllegalArgumentException e) {
            error(name, e.getMessage());
            return;
        }
        // answerQuestion is Collect's path; it refuses constraint-violating answers, which Collect
        // still saves as a draft. Store those too so both engines hold the same instance.
        int outcome = controller.answerQuestion(index, data, true);
        if (outcome != FormEntryController.ANSWER_OK) {
            controller.saveAnswer(index, data, true);
        }
    }

    private static List<String> answerValues(JsonNode answer) {
        List<String> values = new ArrayList<>();
        if (answer.has("values") && answer.get("values").isArray()) {
            for (JsonNode v : answer.get("values")) {
                values.add(v.asText());
            }
        } else if (answer.hasNonNull("value")) {
            values.add(answer.get("value").asText());
        }
        return values;
    }

    private IAnswerData toAnswerData(FormEntryPrompt prompt, List<String> values) {
        int control = prompt.getControlType();
        if (control == Constants.CONTROL_SELECT_ONE || control == Constants.CONTROL_SELECT_MULTI) {
            List<String> codes = new ArrayList<>();
            for (String value : values) {
                for (String code : value.trim().split("\\s+")) {
                    if (!code.isEmpty()) {
                        codes.add(code);
                    }
                }
            }
            if (codes.isEmpty()) {
                return null;
            }
            List<String> offered = new ArrayList<>();
            List<SelectChoice> choices = prompt.getSelectChoices();
            if (choices != null) {
                for (SelectChoice choice : choices) {
                    offered.add(choice.getValue());
                }
            }
            for (String code : codes) {
                if (!offered.contains(code)) {
                    throw new IllegalArgumentException("value " + quote(code)
                            + " is not among the offered choices " + offered);
                }
            }
            if (control == Constants.CONTROL_SELECT_ONE) {
                if (codes.size() > 1) {
                    throw new IllegalArgumentException("select_one takes one value, got " + codes);
                }
                return new SelectOneData(new Selection(codes.get(0)));
            }
            List<Selection> selections = new ArrayList<>();
            for (String code : codes) {
                selections.add(new Selection(code));
            }
            return new SelectMultiData(selections);
        }
        if (values.size() > 1) {
            throw new IllegalArgumentException("takes one value, got " + values);
        }
        if (values.isEmpty() || values.get(0).isEmpty()) {
            return null;
        }
        IAnswerData data = XFormAnswerDataParser.getAnswerData(values.get(0), prompt.getDataType());
        if (data == null) {
            throw new IllegalArgumentException("value " + quote(values.get(0))
                    + " is not a valid " + dataTypeName(prompt.getDataType()));
        }
        return data;
    }

    // ---- reporting -------------------------------------------------------------------------

    private void describe(String name, TreeElement element, ObjectNode nodes, ArrayNode violations) {
        ObjectNode node = nodes.putObject(name);
        boolean relevant = element.isRelevant();
        // JavaRosa keeps answers (and computes calculates) of non-relevant nodes but neither
        // submits them nor lets expressions see them; report them blank, as Web Forms does.
        node.put("value", relevant && element.isLeaf() ? valueOf(element) : "");
        node.put("relevant", relevant);
        node.put("type", typeOf(element));
        FormIndex index = indexByRef.get(refKey(element));
        if (index == null) {
            node.putNull("label");
            return;
        }
        FormEntryCaption caption = form.getChild(index) instanceof QuestionDef
                ? model.getQuestionPrompt(index)
                : model.getCaptionPrompt(index);
        String label = caption.getLongText();
        if (label == null) {
            node.putNull("label");
        } else {
            node.put("label", label.trim());
        }
        if (!relevant || !(caption instanceof FormEntryPrompt prompt)) {
            return;
        }
        IAnswerData value = element.getValue();
        if (value == null) {
            if (element.isRequired()) {
                String message = prompt.getSpecialFormQuestionText("requiredMsg");
                violations.add(violation(name, "required", message));
            }
        } else if (!form.evaluateConstraint(element.getRef(), value)) {
            violations.add(violation(name, "constraint", prompt.getConstraintText()));
        }
    }

    private static ObjectNode violation(String name, String condition, String message) {
        ObjectNode violation = JSON.createObjectNode();
        violation.put("name", name);
        violation.put("condition", condition);
        violation.put("message", message == null ? "" : message);
        return violation;
    }

    private static String valueOf(TreeElement element) {
        IAnswerData value = element.getValue();
        return value == null ? "" : value.uncast().getString();
    }

    /** XLSForm-flavoured kind of node; the Web Forms harness uses the same vocabulary. */
    private String typeOf(TreeElement element) {
        if (!element.isLeaf()) {
            return "group";
        }
        FormIndex index = indexByRef.get(refKey(element));
        IFormElement control = index == null ? null : form.getChild(index);
        if (!(control instanceof QuestionDef question)) {
            BindFacts facts = binds.get(refKey(element));
            return facts != null && facts.calculated() ? "calculate" : "hidden";
        }
        switch (question.getControlType()) {
            case Constants.CONTROL_SELECT_ONE:
                return "select_one";
            case Constants.CONTROL_SELECT_MULTI:
                return "select_multiple";
            case Constants.CONTROL_RANK:
                return "rank";
            case Constants.CONTROL_RANGE:
                return "range";
            case Constants.CONTROL_TRIGGER:
                return "trigger";
            case Constants.CONTROL_UPLOAD:
            case Constants.CONTROL_IMAGE_CHOOSE:
            case Constants.CONTROL_AUDIO_CAPTURE:
            case Constants.CONTROL_VIDEO_CAPTURE:
            case Constants.CONTROL_FILE_CAPTURE:
                return "upload";
            default:
                return isConstantReadonly(element) ? "note" : dataTypeName(element.getDataType());
        }
    }

    private boolean isConstantReadonly(TreeElement element) {
        BindFacts facts = binds.get(refKey(element));
        return facts != null && facts.constantReadonly();
    }

    private static String dataTypeName(int dataType) {
        switch (dataType) {
            case Constants.DATATYPE_TEXT:
            case Constants.DATATYPE_NULL:
                return "text";
            case Constants.DATATYPE_INTEGER:
            case Constants.DATATYPE_LONG:
                return "integer";
            case Constants.DATATYPE_DECIMAL:
                return "decimal";
            case Constants.DATATYPE_DATE:
                return "date";
            case Constants.DATATYPE_TIME:
                return "time";
            case Constants.DATATYPE_DATE_TIME:
                return "dateTime";
            case Constants.DATATYPE_BOOLEAN:
                return "boolean";
            case Constants.DATATYPE_GEOPOINT:
                return "geopoint";
            case Constants.DATATYPE_GEOSHAPE:
                return "geoshape";
            case Constants.DATATYPE_GEOTRACE:
                return "geotrace";
            case Constants.DATATYPE_BARCODE:
                return "barcode";
            case Constants.DATATYPE_BINARY:
                return "binary";
            default:
                return "datatype-" + dataType;
        }
    }

    // ---- form structure --------------------------------------------------------------------

    private void indexQuestionsAndGroups() {
        FormIndex index = model.incrementIndex(FormIndex.createBeginningOfFormIndex(), true);
        while (!index.isEndOfFormIndex()) {
            IFormElement element = form.getChild(index);
            if (element instanceof QuestionDef || element instanceof GroupDef) {
                indexByRef.putIfAbsent(index.getReference().toString(false), index);
            }
            index = model.incrementIndex(index, true);
        }
    }

    private void indexElements(TreeElement element, boolean isRoot) throws HarnessFailure {
        if (!isRoot) {
            if (element.isRepeatable()) {
                throw new HarnessFailure("node " + quote(element.getName())
                        + " is a repeat; the harness addresses nodes by unique name and does not fill repeats");
            }
            if (elementByName.putIfAbsent(element.getName(), element) != null) {
                throw new HarnessFailure("node name " + quote(element.getName())
                        + " occurs twice; the harness needs unique node names");
            }
        }
        for (int i = 0; i < element.getNumChildren(); i++) {
            indexElements(element.getChildAt(i), false);
        }
    }

    private static String refKey(TreeElement element) {
        return element.getRef().toString(false);
    }

    /** Bind facts JavaRosa does not expose after parsing: which nodes are calculated or notes. */
    private static Map<String, BindFacts> readBinds(String xform) throws HarnessFailure {
        Document document;
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setNamespaceAware(true);
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            javax.xml.parsers.DocumentBuilder builder = factory.newDocumentBuilder();
            builder.setErrorHandler(new org.xml.sax.helpers.DefaultHandler()); // no "[Fatal Error]" noise
            document = builder.parse(new ByteArrayInputStream(xform.getBytes(StandardCharsets.UTF_8)));
        } catch (Exception e) {
            throw new HarnessFailure("the form is not well-formed XML: " + e.getMessage());
        }
        Map<String, BindFacts> facts = new HashMap<>();
        NodeList bindElements = document.getElementsByTagNameNS(XFORMS_NS, "bind");
        for (int i = 0; i < bindElements.getLength(); i++) {
            Element bind = (Element) bindElements.item(i);
            String nodeset = bind.getAttribute("nodeset").trim();
            facts.put(nodeset, new BindFacts(
                    bind.hasAttribute("calculate"),
                    bind.getAttribute("readonly").trim().equals("true()")));
        }
        return facts;
    }

    // ---- small utilities -------------------------------------------------------------------

    private void error(String name, String message) {
        ObjectNode error = errors.addObject();
        error.put("name", name);
        error.put("message", message);
    }

    private static String quote(String text) {
        return "'" + text + "'";
    }

    private static String stripXmlDeclaration(String xml) {
        String trimmed = xml.trim();
        if (trimmed.startsWith("<?xml")) {
            return trimmed.substring(trimmed.indexOf("?>") + 2).trim();
        }
        return trimmed;
    }

    private static byte[] readAll(InputStream in) throws java.io.IOException {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        in.transferTo(buffer);
        return buffer.toByteArray();
    }
}
