import com.sun.source.util.JavacTask;
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

/**
 * Syntax check of Java sources that cannot be compiled here (the Android app: no android.jar, no ExecuTorch or
 * LiteRT AARs): javac's parser only, no symbol resolution. Usage: java ParseCheck.java FILE...; exit 1 on errors.
 */
public class ParseCheck {
    public static void main(String[] args) throws Exception {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        DiagnosticCollector<JavaFileObject> diags = new DiagnosticCollector<>();
        try (StandardJavaFileManager fm = javac.getStandardFileManager(diags, null, null)) {
            List<File> files = new ArrayList<>();
            for (String a : args) files.add(new File(a));
            JavacTask task = (JavacTask) javac.getTask(null, fm, diags, List.of("-proc:none"), null,
                    fm.getJavaFileObjectsFromFiles(files));
            task.parse();
        }
        int errors = 0;
        for (Diagnostic<? extends JavaFileObject> d : diags.getDiagnostics()) {
            if (d.getKind() == Diagnostic.Kind.ERROR) {
                errors++;
                System.out.println(d.getSource().getName() + ":" + d.getLineNumber() + ": " + d.getMessage(null));
            }
        }
        System.out.println("parsed " + args.length + " files, " + errors + " syntax errors");
        System.exit(errors == 0 ? 0 : 1);
    }
}
